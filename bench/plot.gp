# Plots of one shmq-bench run, from the data files `shmq-bench report
# --plot-dir` writes. Usage:
#   gnuplot -e "dir='DIR'; out='PREFIX'; subtitle='TEXT'" bench/plot.gp
# writes PREFIX-latency.png, PREFIX-latency-size.png, PREFIX-throughput.png and
# PREFIX-rates.png. Each series' title ends with the regime it ran in.
if (!exists("dir")) dir = "."
if (!exists("out")) out = "shmq-bench"
if (!exists("subtitle")) subtitle = ""

set terminal pngcairo size 1280,760 font "sans,11" noenhanced
set datafile missing "-"
set key outside right top
set grid ytics mytics
set logscale y 10
set yrange [10:*]
colors = "#000000 #1f77b4 #17becf #2ca02c #bcbd22 #7f7f7f #d62728 #ff7f0e #8c564b #9467bd #e377c2 #aec7e8"
color(i) = word(colors, i - 1)
# shmq's series (columns listed in `shmq`) are drawn thicker than the others.
width(shmq, i) = strstrt(" " . shmq . " ", " " . i . " ") ? 3 : 1.5
set ytics ("10 ns" 10, "100 ns" 100, "1 us" 1e3, "10 us" 1e4, "100 us" 1e5, "1 ms" 1e6, \
           "10 ms" 1e7, "100 ms" 1e8, "1 s" 1e9)

# Latency percentiles per mechanism, 64 B, pinned.
set output out . "-latency.png"
set title "Latency percentiles, 64 B, producer and consumer pinned to CPUs 0/1 (log scale)\n" . subtitle
set ylabel "latency"
set xlabel "percentile"
plot for [i=2:12] dir . "/latency.dat" using i:xtic(1) with linespoints \
     lw width("3 4 5 6", i) lc rgb color(i) pt (i % 7) + 1 title columnheader(i)

# p50 by payload size.
set output out . "-latency-size.png"
set title "p50 latency by payload size, pinned (log scale)\n" . subtitle
set xlabel "payload bytes"
plot for [i=2:10] dir . "/latency_size.dat" using i:xtic(1) with linespoints \
     lw width("3 4 5", i) lc rgb color(i) pt (i % 7) + 1 title columnheader(i)

# Throughput against producers x consumers, unpinned, 64 B.
set output out . "-throughput.png"
set title "Full-cycle throughput (send, receive, delete) vs producers x consumers, 64 B, unpinned (log scale)\n" . subtitle
set ylabel "messages / s"
set xlabel "producers x consumers"
set ytics auto
set yrange [*:*]
set format y "%.0s%c"
plot for [i=2:7] dir . "/throughput.dat" using i:xtic(1) with linespoints \
     lw width("2 3 4", i) lc rgb color(i) pt (i % 7) + 1 title columnheader(i)

# 1 x 1 rates of every mechanism, pinned.
set output out . "-rates.png"
set title "1 producer x 1 consumer, full cycle, 64 B, pinned (log scale; label: rate and regime)\n" . subtitle
set ylabel "messages / s"
set xlabel ""
set style fill solid 0.6
set boxwidth 0.7
set xtics rotate by -30
unset key
plot dir . "/rates.dat" using 0:2:xtic(1) with boxes lc rgb "#4477aa", \
     "" using 0:2:(gprintf("%.3s%c", $2) . " " . stringcolumn(3)) with labels offset 0,0.8 font "sans,9"
