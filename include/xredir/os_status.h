// os_status.h owns how xredir reports failures at the OS boundary (bpf, xsk, netlink, commands,
// the original-destination server's socket directory, bind, chmod): an error code plus the context
// a person needs to act on it ("attach xredir_xdp to eth0: Device or resource busy"). A Status is
// [[nodiscard]] so an ignored failure is a compile error; start-up code turns it into one clear
// log line.
#pragma once

#include <string>
#include <system_error>
#include <utility>

namespace xredir {

// Status is success (empty) or an OS error with context.
class [[nodiscard]] Status {
 public:
  Status() = default;
  // error builds a failed Status from a positive errno value (0 counts as EIO) and a context
  // phrase.
  static Status error(int errnum, std::string context) {
    Status s;
    s.code_ = errnum != 0 ? std::error_code(errnum, std::generic_category())
                          : std::make_error_code(std::errc::io_error);
    s.context_ = std::move(context);
    return s;
  }
  bool ok() const { return !code_; }
  const std::error_code& code() const { return code_; }
  // message returns "context: strerror", or "ok".
  std::string message() const { return ok() ? "ok" : context_ + ": " + code_.message(); }

 private:
  std::error_code code_;
  std::string context_;
};

}  // namespace xredir
