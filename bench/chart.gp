# chart.gp — the `make bench` chart: tok/s of l4lm, llama.cpp native (llama-bench,
# the faster of flash attention off/on) and llama.cpp via node per file and thread
# count, prefill and decode side by side.
# gnuplot -e "dat='bench.dat'; out='bench.png'; node=1; layers=22" chart.gp
#   node=0: the run had no node column; layers: the files' layer count.
set terminal pngcairo size 1400,500 font ",10" noenhanced
set output out
if (!exists("layers")) layers = 22
set multiplot layout 1,2 title sprintf("l4lm vs llama.cpp, TinyLlama-1.1B shape (%d layers, random weights), medians", layers)
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
# gnuplot refuses a series with no valid point, so the node bars are only
# plotted when the run had them.
if (!exists("node")) node = 1
bars(l4lm, native, nd) = sprintf("plot dat using %d:xtic(1) title 'l4lm' lc rgb '#1f77b4', " . \
    "'' using %d title 'llama.cpp native' lc rgb '#d62728'", l4lm, native) . \
    (node ? sprintf(", '' using %d title 'llama.cpp node' lc rgb '#ff7f0e'", nd) : "")
eval bars(2, 3, 4)
set title "decode, 64 tokens after 128"
eval bars(5, 6, 7)
unset multiplot
