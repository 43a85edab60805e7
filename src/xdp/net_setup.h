// net_setup.h owns changes made to the host's network configuration (links, addresses, rules,
// routes, neighbours, sysctls, offloads): each change is made by running the same `ip`,
// `ethtool` or sysctl step an operator would, and its inverse is recorded; destruction (or
// undoAll) undoes them in reverse order, so whatever was set up is removed on exit, also after
// a partial set-up failed. Start-up code only: it allocates, forks and logs freely.
#pragma once

#include <string>
#include <vector>

#include "xredir/os_status.h"

namespace xredir::xdp {

class NetSetup {
 public:
  NetSetup() = default;
  ~NetSetup() { undoAll(); }
  NetSetup(const NetSetup&) = delete;
  NetSetup& operator=(const NetSetup&) = delete;

  // apply runs `command` (argv, searched in PATH) and, when it succeeds, records `undo` to be
  // run at undoAll. An empty undo records nothing (the change goes away with something else,
  // e.g. an address with its link).
  Status apply(const std::vector<std::string>& command, const std::vector<std::string>& undo);
  // setSysctl writes value to /proc/sys/<path with dots as slashes> and records the old value.
  Status setSysctl(const std::string& name, const std::string& value);
  // undoAll undoes every recorded change, newest first. Failures are logged, not returned:
  // tearing down continues past one failed step.
  void undoAll();
  std::size_t recorded() const { return undo_.size(); }

  // run executes argv and waits. Output goes to the log on failure. Public for callers that
  // query (e.g. `ip -j link`), not change.
  static Status run(const std::vector<std::string>& argv, std::string* output = nullptr);
  static std::string readSysctl(const std::string& name);

 private:
  struct Undo {
    std::vector<std::string> command;  // empty when sysctl is set
    std::string sysctl;
    std::string old_value;
  };
  std::vector<Undo> undo_;
};

}  // namespace xredir::xdp
