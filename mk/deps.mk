# deps.mk — Debian packages the hosted build needs, installed when missing.
# The freestanding core and service code need none of them. To add a
# library: put its -dev package in HOST_DEPS and its -l flag in LDLIBS.
#   libcurl4-openssl-dev  l4lm gateway: HTTP client to the upstream
#   libcjson-dev          l4lm gateway: JSON of the upstream's events;
#                         l4lm serve: JSON of requests and responses
#   libmicrohttpd-dev     l4lm serve: the HTTP server

HOST_DEPS += libcurl4-openssl-dev libcjson-dev
LDLIBS    += -lcurl -lcjson
HOST_DEPS += libmicrohttpd-dev
LDLIBS    += -lmicrohttpd

# One stamp per build directory, redone when this list changes. Installs
# with apt-get (as root, else through sudo); a package list that is too old
# to know a package is refreshed once.
DEPS_STAMP := $(BUILD)/.deps-ok
$(DEPS_STAMP): $(filter-out %.d,$(MAKEFILE_LIST))
	@missing=$$(for p in $(sort $(HOST_DEPS)); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	    echo "deps: installing" $$missing; \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing || \
	    { $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; } \
	    || { echo "deps: cannot install $$missing"; exit 1; }; \
	fi
	@mkdir -p $(dir $@) && touch $@

$(POSIX_OBJ) $(BUILD)/l4lm: | $(DEPS_STAMP)
