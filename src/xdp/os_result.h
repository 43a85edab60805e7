// os_result.h owns how the datapath reports failures at the OS boundary (bpf, xsk, netlink,
// commands): an error code plus the context a person needs to act on it ("attach xredir_xdp to
// eth0: Device or resource busy"). A Status is [[nodiscard]] so an ignored failure is a compile
// error; start-up code turns it into one clear log line.
#pragma once

#include <string>
#include <system_error>
#include <utility>

namespace xredir::xdp {

// Status is success (empty) or an OS error with context.
class [[nodiscard]] Status {
 public:
  Status() = default;
  // error builds a failed Status from a positive errno value and a context phrase.
  static Status error(int errnum, std::string context) {
    Status s;
    s.code_ = std::error_code(errnum, std::generic_category());
    s.context_ = std::move(context);
    if (errnum == 0) s.code_ = std::make_error_code(std::errc::io_error);
    return s;
  }
  bool ok() const { return !code_; }
  const std::error_code& code() const { return code_; }
  // message returns "context: strerror".
  std::string message() const { return ok() ? "ok" : context_ + ": " + code_.message(); }

 private:
  std::error_code code_;
  std::string context_;
};

}  // namespace xredir::xdp
