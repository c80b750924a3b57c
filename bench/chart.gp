# chart.gp — the `make bench` chart: tok/s of l4lm, llama.cpp native (llama-bench,
# the faster of flash attention off/on) and llama.cpp via node per file and thread
# count, prefill and decode side by side.
# gnuplot -e "dat='bench.dat'; out='bench.png'" chart.gp
set terminal pngcairo size 1400,500 font ",10" noenhanced
set output out
set multiplot layout 1,2 title "l4lm vs llama.cpp, TinyLlama-1.1B shape (random weights), medians"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set ylabel "tokens/s"
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0 # headroom above the tallest bar for the key
set grid ytics
set xtics rotate by -40
set key top right
set title "prefill, 128 tokens"
plot dat using 2:xtic(1) title "l4lm" lc rgb "#1f77b4", '' using 3 title "llama.cpp native" lc rgb "#d62728", \
     '' using 4 title "llama.cpp node" lc rgb "#ff7f0e"
set title "decode, 64 tokens after 128"
plot dat using 5:xtic(1) title "l4lm" lc rgb "#1f77b4", '' using 6 title "llama.cpp native" lc rgb "#d62728", \
     '' using 7 title "llama.cpp node" lc rgb "#ff7f0e"
unset multiplot
