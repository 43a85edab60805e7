#include "xdp/datapath.h"

#include <net/if.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

namespace xredir::xdp {

std::uint32_t Datapath::rxQueueCount(const std::string& ifname) {
  std::error_code ec;
  std::uint32_t n = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator("/sys/class/net/" + ifname + "/queues", ec)) {
    if (entry.path().filename().string().rfind("rx-", 0) == 0) ++n;
  }
  return std::max<std::uint32_t>(n, 1);
}

std::unique_ptr<Datapath> Datapath::create(const DatapathConfig& config, Status& err) {
  if (config.capture_interfaces.empty()) {
    err = Status::error(EINVAL, "no capture interface configured");
    return nullptr;
  }
  if (config.capture_interfaces.size() + 1 > XREDIR_MAX_IFACES) {
    err = Status::error(E2BIG, "more capture interfaces than XREDIR_MAX_IFACES-1");
    return nullptr;
  }
  std::unique_ptr<Datapath> dp(new Datapath());
  dp->config_ = config;
  for (const auto& name : config.capture_interfaces) {
    CaptureInterface c;
    c.ifname = name;
    c.ifindex = if_nametoindex(name.c_str());
    auto mac = readMac(name);
    if (c.ifindex == 0 || !mac) {
      err = Status::error(ENODEV, "capture interface " + name + " not found");
      return nullptr;
    }
    c.mac = *mac;
    dp->captures_.push_back(c);
  }
  auto encoded = encodeSteering(config.steering);
  if (!encoded) {
    err = Status::error(EINVAL, "steering filter has too many or malformed entries");
    return nullptr;
  }
  dp->bpf_ = BpfProgram::load(err);
  if (!dp->bpf_) return nullptr;
  err = dp->bpf_->setFilter(*encoded);
  if (!err.ok()) return nullptr;
  // Refuse a second instance before touching anything shared: its interfaces carry our program.
  for (const auto& c : dp->captures_) {
    if (XdpAttachment::xredirAttachedTo(c.ifindex)) {
      err = Status::error(EBUSY, "interface " + c.ifname +
                                     " already has an xredir XDP program attached (another "
                                     "instance running?)");
      return nullptr;
    }
  }
  InjectionConfig injection = config.injection;
  std::uint32_t queues = config.queues;
  if (queues == 0) {
    for (const auto& c : dp->captures_) queues = std::max(queues, rxQueueCount(c.ifname));
  }
  dp->config_.queues = std::min<std::uint32_t>(queues, XREDIR_MAX_QUEUES);
  injection.queues = std::max(injection.queues, dp->config_.queues);
  dp->injection_ = InjectionPair::create(injection, err);
  if (!dp->injection_) return nullptr;
  if (config.output) {
    dp->output_ = OutputCapture::create(*config.output, *dp->injection_, err);
    if (!dp->output_) return nullptr;
  }
  if (config.reply_fast_path) {
    dp->reply_fast_ = ReplyFastPath::attach(*dp->bpf_, dp->injection_->proxyIfindex(),
                                            dp->injection_->injectIfindex(), err);
    if (!dp->reply_fast_) return nullptr;
  }

  std::uint32_t slot = 0;
  for (const auto& c : dp->captures_) {
    err = dp->bpf_->setIface(c.ifindex, slot++, XREDIR_ROLE_CAPTURE);
    if (!err.ok()) return nullptr;
  }
  err = dp->bpf_->setIface(dp->injection_->injectIfindex(), slot, XREDIR_ROLE_INJECTION);
  if (!err.ok()) return nullptr;

  std::vector<std::string> attach_to = config.capture_interfaces;
  attach_to.push_back(config.injection.inject_if);
  for (const auto& name : attach_to) {
    auto a = XdpAttachment::attach(dp->bpf_->mainProgramFd(), name, config.allow_generic, err);
    if (!a) return nullptr;
    dp->attachments_.push_back(std::move(a));
  }
  return dp;
}

Datapath::~Datapath() {
  stopWorkers();
  attachments_.clear();
  reply_fast_.reset();
  output_.reset();
  injection_.reset();
}

Status Datapath::startWorkers(PacketProcessor& processor) {
  if (!workers_.empty()) return Status::error(EALREADY, "workers already running");
  const std::uint32_t queues = config_.queues;  // resolved by create()
  for (std::uint32_t q = 0; q < queues; ++q) {
    WorkerConfig wc;
    wc.queue = q;
    wc.cpu = config_.cpus.empty() ? -1 : config_.cpus[q % config_.cpus.size()];
    wc.force_copy = config_.force_copy;
    wc.umem = config_.umem;
    std::uint32_t slot = 0;
    for (const auto& c : captures_) {
      if (q < rxQueueCount(c.ifname)) wc.interfaces.push_back({c.ifname, c.ifindex, slot});
      ++slot;
    }
    const auto& inj = config_.injection.inject_if;
    if (q < rxQueueCount(inj)) wc.interfaces.push_back({inj, injection_->injectIfindex(), slot});
    Status err;
    auto w = Worker::create(wc, *bpf_, processor, err);
    if (!w) {
      stopWorkers();
      return err;
    }
    workers_.push_back(std::move(w));
  }
  for (auto& w : workers_) w->start();
  spdlog::info("AF_XDP datapath: {} worker(s) on {} capture interface(s) + {}", workers_.size(),
               captures_.size(), config_.injection.inject_if);
  return {};
}

void Datapath::stopWorkers() {
  for (auto& w : workers_) w->stop();
  workers_.clear();
}

Status Datapath::setSteering(const std::vector<SteeringRule>& rules) {
  auto encoded = encodeSteering(rules);
  if (!encoded) return Status::error(EINVAL, "steering filter has too many or malformed entries");
  return bpf_->setFilter(*encoded);
}

}  // namespace xredir::xdp
