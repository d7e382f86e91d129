// The data files bench/plot.gp draws, from a run's records: latency
// percentiles per mechanism, p50 by payload size, throughput by producers x
// consumers, and the 1x1 rates. Each point is the median of the matching
// records (run.sh repeats the key runs); missing figures are written as "-".
#pragma once

#include <string>
#include <vector>

#include "bench/record_query.h"

namespace shmq::bench {

// Writes latency.dat, latency_size.dat, throughput.dat and rates.dat in dir.
void write_plot_data(const std::vector<RecordJson>& records, const std::string& dir);

}  // namespace shmq::bench
