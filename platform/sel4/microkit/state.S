/*
** state.S — embeds a fixed system prompt's session state (the file
** `l4lm run ... -n 0 --prompt-cache` wrote on the host; its path comes from
** config.h) in the infer PD's .rodata: read-only, loaded into each client's
** session by l4lm_session_load.
*/
#include "config.h"

    .section .rodata.state, "a"
    .balign 64
    .global l4lm_sel4_state_start, l4lm_sel4_state_end
l4lm_sel4_state_start:
    .incbin L4LM_SEL4_STATE_FILE
l4lm_sel4_state_end:

    .section .note.GNU-stack, "", %progbits   /* no executable stack */
