#include "xdp/net_setup.h"

#include <fcntl.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

extern char** environ;

namespace xredir::xdp {
namespace {

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

std::string sysctlPath(const std::string& name) {
  std::string path = "/proc/sys/" + name;
  std::replace(path.begin() + 10, path.end(), '.', '/');
  return path;
}

}  // namespace

Status NetSetup::run(const std::vector<std::string>& argv, std::string* output) {
  if (argv.empty()) return Status::error(EINVAL, "empty command");
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return Status::error(errno, "pipe for " + argv[0]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipefd[1]);
  std::string text;
  if (rc == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  }
  close(pipefd[0]);
  if (rc != 0) return Status::error(rc, "run " + joined(argv));
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (output != nullptr) *output = text;
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return Status::error(EIO, "`" + joined(argv) + "` failed: " + text);
  }
  return {};
}

Status NetSetup::apply(const std::vector<std::string>& command,
                       const std::vector<std::string>& undo) {
  Status s = run(command);
  if (!s.ok()) return s;
  spdlog::debug("net setup: {}", joined(command));
  if (!undo.empty()) undo_.push_back(Undo{undo, {}, {}});
  return {};
}

std::string NetSetup::readSysctl(const std::string& name) {
  std::ifstream in(sysctlPath(name));
  std::string value;
  std::getline(in, value);
  return value;
}

Status NetSetup::setSysctl(const std::string& name, const std::string& value) {
  std::string path = sysctlPath(name);
  std::string old = readSysctl(name);
  std::ofstream out(path);
  out << value << '\n';
  out.close();
  if (!out) return Status::error(errno ? errno : EIO, "write sysctl " + name);
  spdlog::debug("net setup: sysctl {}={} (was {})", name, value, old);
  if (old != value) undo_.push_back(Undo{{}, name, old});
  return {};
}

void NetSetup::undoAll() {
  while (!undo_.empty()) {
    Undo u = std::move(undo_.back());
    undo_.pop_back();
    if (!u.command.empty()) {
      Status s = run(u.command);
      if (!s.ok()) spdlog::warn("undo: {}", s.message());
    } else {
      std::ofstream out(sysctlPath(u.sysctl));
      out << u.old_value << '\n';
      if (!out) spdlog::warn("undo: restore sysctl {}={} failed", u.sysctl, u.old_value);
    }
  }
}

}  // namespace xredir::xdp
