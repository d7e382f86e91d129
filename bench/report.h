// `shmq-bench report`: reads the JSON lines of a run (run.sh's), prints the
// figures, the ratios against the floor and each peer, and the issue's
// targets met or missed, as Markdown; optionally writes the data files the
// gnuplot scripts draw.
#pragma once

#include <string>
#include <vector>

namespace shmq::bench {

int run_report(const std::vector<std::string>& files, const std::string& plot_dir);

}  // namespace shmq::bench
