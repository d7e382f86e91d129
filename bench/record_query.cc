#include "bench/record_query.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace shmq::bench {

std::vector<RecordJson> load_records(const std::vector<std::string>& files) {
  std::vector<RecordJson> out;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream all;
    all << in.rdbuf();
    RecordJson whole = RecordJson::parse(all.str(), nullptr, false);
    if (!whole.is_discarded() && whole.is_object() && whole.contains("records")) {
      for (const auto& r : whole["records"]) out.push_back(r);
      continue;
    }
    std::istringstream lines(all.str());
    std::string line;
    while (std::getline(lines, line)) {
      RecordJson r = RecordJson::parse(line, nullptr, false);
      if (!r.is_discarded() && r.is_object() && r.contains("mechanism")) out.push_back(r);
    }
  }
  return out;
}

bool record_matches(const RecordJson& r, const RecordJson& where) {
  if (!r.value("skipped", std::string()).empty()) return false;
  for (const auto& [k, v] : where.items())
    if (!r.contains(k) || r[k] != v) return false;
  return true;
}

const RecordJson* find_record(const std::vector<RecordJson>& rs, const RecordJson& where) {
  for (const auto& r : rs)
    if (record_matches(r, where)) return &r;
  return nullptr;
}

std::vector<const RecordJson*> find_records(const std::vector<RecordJson>& rs,
                                            const RecordJson& where) {
  std::vector<const RecordJson*> out;
  for (const auto& r : rs)
    if (record_matches(r, where)) out.push_back(&r);
  return out;
}

const RecordJson* median_record(const std::vector<RecordJson>& rs, const RecordJson& where,
                                const char* field, const std::string& regime) {
  std::vector<const RecordJson*> all = find_records(rs, where);
  if (!regime.empty())
    std::erase_if(all,
                  [&](const RecordJson* r) { return r->value("regime", std::string()) != regime; });
  if (all.empty()) return nullptr;
  std::sort(all.begin(), all.end(), [&](const RecordJson* a, const RecordJson* b) {
    return (*a)[field].get<double>() < (*b)[field].get<double>();
  });
  return all[(all.size() - 1) / 2];
}

RecordJson latency64(const std::string& mechanism, const std::string& metric,
                     const std::string& receiver) {
  return {{"mechanism", mechanism}, {"mode", "latency"}, {"metric", metric},
          {"receiver", receiver},   {"size", 64},        {"pin", true}};
}

RecordJson rate64(const std::string& mechanism, int producers, int consumers, int batch, bool pin) {
  return {{"mechanism", mechanism}, {"mode", "throughput"}, {"size", 64}, {"producers", producers},
          {"consumers", consumers}, {"batch", batch},       {"pin", pin}};
}

}  // namespace shmq::bench
