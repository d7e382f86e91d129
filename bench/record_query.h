// Reading a run's records back (for `shmq-bench report`): load JSON lines or
// run.sh's bundle, and pick records by their fields.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace shmq::bench {

using RecordJson = nlohmann::json;

// Every record in the files: JSON lines, or run.sh's bundle {"records": [...]}.
std::vector<RecordJson> load_records(const std::vector<std::string>& files);

// True when r is measured (not skipped) and has every field of `where`.
bool record_matches(const RecordJson& r, const RecordJson& where);

// The first measured (not skipped) record whose fields equal every field of
// `where`; nullptr when none does.
const RecordJson* find_record(const std::vector<RecordJson>& rs, const RecordJson& where);

// Every measured record matching `where`, in file order.
std::vector<const RecordJson*> find_records(const std::vector<RecordJson>& rs,
                                            const RecordJson& where);

// Among the records matching `where` (and, unless empty, that ran in
// `regime`), the median by `field` (the lower middle one); nullptr when none.
// run.sh measures the key figures in several rounds; the median keeps one
// disturbed round from deciding.
const RecordJson* median_record(const std::vector<RecordJson>& rs, const RecordJson& where,
                                const char* field, const std::string& regime = "");

// Selectors for the usual comparisons: 64 B, pinned latency; 64 B throughput.
RecordJson latency64(const std::string& mechanism, const std::string& metric,
                     const std::string& receiver);
RecordJson rate64(const std::string& mechanism, int producers, int consumers, int batch, bool pin);

}  // namespace shmq::bench
