// WriteBatch's outbox: what agents are sent after a commit, and in what order.
#include "daemon/write_batch.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace berth::daemon {
namespace {

berth::v1::DaemonMessage Start(int64_t id) {
  berth::v1::DaemonMessage message;
  message.mutable_start_job()->mutable_job()->set_id(id);
  return message;
}

berth::v1::DaemonMessage Ack(int64_t id) {
  berth::v1::DaemonMessage message;
  message.mutable_job_status_ack()->set_job_id(id);
  return message;
}

berth::v1::DaemonMessage Stop(int64_t id) {
  berth::v1::DaemonMessage message;
  message.mutable_stop_job()->set_job_id(id);
  return message;
}

// A stream writes one message at a time, so a StartJob queued behind an ack
// waits for the ack's write: acks go last, everything else keeps its order.
TEST(WriteBatchTest, StatusAcksLeaveAfterTheRoundsOtherMessages) {
  WriteBatch batch(nullptr);  // nothing is written: no store is touched
  batch.Send("n1", Ack(1));
  batch.Send("n1", Start(2));
  batch.Send("n2", Ack(3));
  batch.Send("n1", Stop(4));
  batch.Send("n2", Start(5));
  std::vector<std::string> order;
  for (const auto& [node, message] : batch.TakeOutbox()) {
    if (message.has_start_job()) {
      order.push_back(node + " start " + std::to_string(message.start_job().job().id()));
    } else if (message.has_stop_job()) {
      order.push_back(node + " stop " + std::to_string(message.stop_job().job_id()));
    } else {
      order.push_back(node + " ack " + std::to_string(message.job_status_ack().job_id()));
    }
  }
  EXPECT_EQ(order, (std::vector<std::string>{"n1 start 2", "n1 stop 4", "n2 start 5", "n1 ack 1",
                                             "n2 ack 3"}));
  EXPECT_TRUE(batch.TakeOutbox().empty());
}

}  // namespace
}  // namespace berth::daemon
