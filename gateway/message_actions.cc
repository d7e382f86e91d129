// SendMessage(Batch), ReceiveMessage, DeleteMessage(Batch),
// ChangeMessageVisibility(Batch): the data plane, through shmq::Queue.
#include <set>

#include "gateway/codec.h"
#include "gateway/params.h"
#include "gateway/service.h"
#include "shm/validation.h"

namespace shmq::gateway {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

json attributes_json(const MessageAttributes& attrs) {
  json out = json::object();
  for (const auto& [k, v] : attrs) {
    json a{{"DataType", v.data_type}};
    if (v.data_type.rfind("Binary", 0) == 0) a["BinaryValue"] = base64_encode(v.binary_value);
    else a["StringValue"] = v.string_value;
    out[k] = a;
  }
  return out;
}

// MessageAttributeNames: "All", ".*", "prefix.*" or exact names.
bool wanted(const std::vector<std::string>& filter, const std::string& name) {
  for (const auto& f : filter) {
    if (f == "All" || f == ".*" || f == name) return true;
    if (f.size() > 2 && f.compare(f.size() - 2, 2, ".*") == 0 && name.rfind(f.substr(0, f.size() - 1), 0) == 0)
      return true;
  }
  return false;
}

Status int_in(const json& p, const char* name, int* out, int lo, int hi, const char* reason) {
  int64_t v = 0;
  bool present = false;
  if (Status s = get_int(p, name, &v, &present); !s.ok()) return s;
  if (!present) return Status::OK();
  if (v < lo || v > hi)
    return Status("InvalidParameterValue",
                  "Value " + std::to_string(v) + " for parameter " + name + " is invalid. Reason: " + reason);
  *out = int(v);
  return Status::OK();
}

struct SendParams {
  std::string body;
  int delay = -1;
  MessageAttributes attributes;
  MessageAttributes system;  // MessageSystemAttributes: AWSTraceHeader only
  std::string group, dedup;
};

// A batch's Failed entry.
json failed_json(const BatchResultError& f) {
  return {{"Id", f.id}, {"SenderFault", f.sender_fault}, {"Code", f.code}, {"Message", f.message}};
}

// What a send answers besides its ids: the digests of what it took.
void put_digests(json& out, const SendParams& sp) {
  out["MD5OfMessageBody"] = shm::md5_hex(sp.body);
  if (!sp.attributes.empty()) out["MD5OfMessageAttributes"] = shm::md5_of_message_attributes(sp.attributes);
  if (const std::string_view trace = shm::trace_header_of(sp.system); !trace.empty())
    out["MD5OfMessageSystemAttributes"] = shm::md5_of_message_system_attributes(trace);
}

Status read_send(const json& p, SendParams* s) {
  if (Status st = get_string(p, "MessageBody", &s->body, true); !st.ok()) return st;
  if (Status st = int_in(p, "DelaySeconds", &s->delay, 0, 900, "Must be >= 0 and <= 900, if provided."); !st.ok())
    return st;
  if (Status st = get_message_attributes(p, "MessageAttributes", &s->attributes); !st.ok()) return st;
  if (Status st = get_message_attributes(p, "MessageSystemAttributes", &s->system); !st.ok()) return st;
  if (Status st = get_string(p, "MessageGroupId", &s->group); !st.ok()) return st;
  if (Status st = get_string(p, "MessageDeduplicationId", &s->dedup); !st.ok()) return st;
  return Status::OK();
}

}  // namespace

Result<json> Service::send_message(const std::string& name, const json& p) {
  SendParams sp;
  if (Status s = read_send(p, &sp); !s.ok()) return s;
  if (Status s = shm::validate_message_system_attributes(sp.system); !s.ok()) return s;
  auto q = open(name);
  if (!q.ok()) return q.status();
  SendOptions o;
  o.delay_seconds = sp.delay;
  o.attributes = sp.attributes.empty() ? nullptr : &sp.attributes;
  o.message_group_id = sp.group;
  o.message_deduplication_id = sp.dedup;
  o.aws_trace_header = shm::trace_header_of(sp.system);
  auto r = q->queue->send(sp.body, o);
  if (!r.ok()) return r.status();
  json out{{"MessageId", r->message_id.str()}};
  put_digests(out, sp);
  if (q->queue->fifo()) out["SequenceNumber"] = std::to_string(r->sequence_number);
  return out;
}

Result<json> Service::send_message_batch(const std::string& name, const json& p) {
  std::vector<const json*> entries;
  if (Status s = get_entries(p, &entries); !s.ok()) return s;
  std::vector<std::string> ids(entries.size());
  std::vector<SendParams> params(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    if (Status s = get_string(*entries[i], "Id", &ids[i], true); !s.ok()) return s;
    if (Status s = read_send(*entries[i], &params[i]); !s.ok()) return s;
  }
  // The batch's own rules first, over every entry (the library checks only
  // what it is given).
  if (Status s = shm::validate_batch_ids(ids); !s.ok()) return s;
  std::vector<SendBatchEntry> batch;
  std::vector<json> digests;  // batch[i]'s, answered if it succeeds
  json failed = json::array();
  for (size_t i = 0; i < entries.size(); ++i) {
    SendParams& sp = params[i];
    // A bad system attribute fails its entry, as a bad message attribute does.
    if (Status s = shm::validate_message_system_attributes(sp.system); !s.ok()) {
      failed.push_back(failed_json({ids[i], true, s.code(), s.message()}));
      continue;
    }
    put_digests(digests.emplace_back(json::object()), sp);
    SendBatchEntry& b = batch.emplace_back();
    b.id = ids[i];
    b.aws_trace_header = shm::trace_header_of(sp.system);
    b.body = std::move(sp.body);
    b.delay_seconds = sp.delay;
    b.attributes = std::move(sp.attributes);
    b.message_group_id = std::move(sp.group);
    b.message_deduplication_id = std::move(sp.dedup);
  }
  auto q = open(name);
  if (!q.ok()) return q.status();
  json ok = json::array();
  if (!batch.empty()) {
    auto r = q->queue->send_batch(batch);
    if (!r.ok()) return r.status();
    const bool fifo = q->queue->fifo();
    for (const auto& e : r->successful) {
      json j{{"Id", e.id}, {"MessageId", e.message_id.str()}};
      j.update(digests[e.index]);
      if (fifo) j["SequenceNumber"] = std::to_string(e.sequence_number);
      ok.push_back(j);
    }
    for (const auto& f : r->failed) failed.push_back(failed_json(f));
  }
  return json{{"Successful", ok}, {"Failed", failed}};
}

Outcome Service::receive_message(const std::string& name, const json& p, Attempt& attempt) {
  ReceiveOptions o;
  int wait = -1;
  if (Status s = int_in(p, "MaxNumberOfMessages", &o.max_messages, 1, 10, "Must be between 1 and 10, if provided.");
      !s.ok())
    return {s};
  if (Status s = int_in(p, "VisibilityTimeout", &o.visibility_timeout, 0, 43200,
                        "Must be >= 0 and <= 43200, if provided.");
      !s.ok())
    return {s};
  if (Status s = int_in(p, "WaitTimeSeconds", &wait, 0, 20, "Must be >= 0 and <= 20, if provided."); !s.ok())
    return {s};
  std::vector<std::string> system_names, attribute_names;
  if (Status s = get_string_list(p, "AttributeNames", &system_names); !s.ok()) return {s};
  if (Status s = get_string_list(p, "MessageSystemAttributeNames", &system_names); !s.ok()) return {s};
  if (Status s = get_string_list(p, "MessageAttributeNames", &attribute_names); !s.ok()) return {s};
  std::string attempt_id;
  if (Status s = get_string(p, "ReceiveRequestAttemptId", &attempt_id); !s.ok()) return {s};
  o.receive_request_attempt_id = attempt_id;

  auto q = open(name, /*refresh_attributes=*/attempt.first && wait < 0);
  if (!q.ok()) return {q.status()};
  if (attempt.first) {
    if (wait < 0) wait = q->receive_wait_s;
    attempt.deadline = Clock::now() + std::chrono::seconds(wait);
    attempt.first = false;
  }
  // Never block a gateway thread: poll, and let the connection park on a timer.
  o.wait_time_seconds = 0;
  Message m[10];
  auto n = q->queue->receive(std::span<Message>(m), o);
  if (!n.ok()) return {n.status()};
  if (n.value() == 0 && Clock::now() < attempt.deadline) return Outcome{json::object(), true};

  std::set<std::string> sys(system_names.begin(), system_names.end());
  const bool all = sys.count("All") > 0;
  json messages = json::array();
  for (size_t i = 0; i < n.value(); ++i) {
    const Message& msg = m[i];
    json j{{"MessageId", msg.message_id.str()},
           {"ReceiptHandle", msg.receipt_handle.str()},
           {"Body", std::string(msg.body)},
           {"MD5OfBody", shm::md5_hex(msg.body)}};
    json attrs = json::object();
    auto put = [&](const char* key, const std::string& value) {
      if (all || sys.count(key)) attrs[key] = value;
    };
    put("SenderId", std::to_string(msg.sender_uid));
    put("SentTimestamp", std::to_string(msg.sent_timestamp_ms));
    put("ApproximateReceiveCount", std::to_string(msg.receive_count));
    put("ApproximateFirstReceiveTimestamp", std::to_string(msg.first_receive_timestamp_ms));
    if (!msg.message_group_id.empty()) put("MessageGroupId", std::string(msg.message_group_id));
    if (!msg.message_deduplication_id.empty())
      put("MessageDeduplicationId", std::string(msg.message_deduplication_id));
    if (msg.sequence_number) put("SequenceNumber", std::to_string(msg.sequence_number));
    if (!msg.aws_trace_header.empty()) put("AWSTraceHeader", std::string(msg.aws_trace_header));
    if (const std::string_view arn = msg.dead_letter_queue_source_arn; !arn.empty())
      put("DeadLetterQueueSourceArn", arn_for(std::string(arn.substr(arn.rfind(':') + 1))));  // this region's
    if (!attrs.empty()) j["Attributes"] = attrs;
    if (!attribute_names.empty() && !msg.raw_attributes.empty()) {
      MessageAttributes ma = msg.attributes(), kept;
      for (auto& [k, v] : ma)
        if (wanted(attribute_names, k)) kept[k] = v;
      if (!kept.empty()) {
        j["MessageAttributes"] = attributes_json(kept);
        j["MD5OfMessageAttributes"] = shm::md5_of_message_attributes(kept);
      }
    }
    messages.push_back(std::move(j));
  }
  json out = json::object();
  if (!messages.empty()) out["Messages"] = messages;
  return Outcome{out};
}

Result<json> Service::delete_message(const std::string& name, const json& p) {
  std::string handle;
  if (Status s = get_string(p, "ReceiptHandle", &handle, true); !s.ok()) return s;
  auto q = open(name);
  if (!q.ok()) return q.status();
  if (Status s = q->queue->remove(handle); !s.ok()) return s;
  return json::object();
}

Result<json> Service::change_visibility(const std::string& name, const json& p) {
  std::string handle;
  if (Status s = get_string(p, "ReceiptHandle", &handle, true); !s.ok()) return s;
  int64_t vt = 0;
  bool present = false;
  if (Status s = get_int(p, "VisibilityTimeout", &vt, &present); !s.ok()) return s;
  if (!present) return missing("VisibilityTimeout");
  if (vt < 0 || vt > 43200)
    return Status("InvalidParameterValue", "Value " + std::to_string(vt) +
                                               " for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 "
                                               "and <= 43200, if provided.");
  auto q = open(name);
  if (!q.ok()) return q.status();
  if (Status s = q->queue->change_visibility(handle, int(vt)); !s.ok()) return s;
  return json::object();
}

namespace {

Result<std::vector<BatchHandleEntry>> read_handle_entries(const json& p, bool visibility) {
  std::vector<const json*> entries;
  if (Status s = get_entries(p, &entries); !s.ok()) return s;
  std::vector<BatchHandleEntry> out;
  for (const json* e : entries) {
    BatchHandleEntry b;
    if (Status s = get_string(*e, "Id", &b.id, true); !s.ok()) return s;
    if (Status s = get_string(*e, "ReceiptHandle", &b.receipt_handle, true); !s.ok()) return s;
    if (visibility) {
      int64_t vt = 0;
      bool present = false;
      if (Status s = get_int(*e, "VisibilityTimeout", &vt, &present); !s.ok()) return s;
      b.visibility_timeout = int(std::clamp<int64_t>(vt, -1, 1 << 30));
    }
    out.push_back(std::move(b));
  }
  return out;
}

json batch_json(const BatchResult& r) {
  json ok = json::array(), failed = json::array();
  for (const auto& id : r.successful) ok.push_back({{"Id", id}});
  for (const auto& f : r.failed) failed.push_back(failed_json(f));
  return json{{"Successful", ok}, {"Failed", failed}};
}

}  // namespace

Result<json> Service::delete_message_batch(const std::string& name, const json& p) {
  auto entries = read_handle_entries(p, false);
  if (!entries.ok()) return entries.status();
  auto q = open(name);
  if (!q.ok()) return q.status();
  auto r = q->queue->remove_batch(entries.value());
  if (!r.ok()) return r.status();
  return batch_json(r.value());
}

Result<json> Service::change_visibility_batch(const std::string& name, const json& p) {
  auto entries = read_handle_entries(p, true);
  if (!entries.ok()) return entries.status();
  auto q = open(name);
  if (!q.ok()) return q.status();
  auto r = q->queue->change_visibility_batch(entries.value());
  if (!r.ok()) return r.status();
  return batch_json(r.value());
}

}  // namespace shmq::gateway
