// run_config.cc: the daemon's TOML configuration (see run_config.h).
#include "daemon/run_config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace xredir {
namespace {

// ConfigReader walks one table of the document, remembers which keys were read so that unknown
// keys are reported, and turns type errors into messages with the key's position.
class ConfigReader {
 public:
  ConfigReader(const std::string& name, const toml::table& root) : name_(name), root_(root) {}

  const std::string& error() const { return error_; }

  void readString(const char* section, const char* key, std::string& out) {
    if (const toml::node* n = find(section, key)) {
      if (auto v = n->value<std::string>()) {
        out = *v;
      } else {
        fail(*n, section, key, "expected a string");
      }
    }
  }

  void readUint(const char* section,
                const char* key,
                std::uint32_t& out,
                std::uint32_t min,
                std::uint32_t max) {
    if (const toml::node* n = find(section, key)) {
      auto v = n->value<std::int64_t>();
      if (!v || *v < min || *v > max) {
        fail(*n, section, key,
             "expected an integer from " + std::to_string(min) + " to " + std::to_string(max));
      } else {
        out = static_cast<std::uint32_t>(*v);
      }
    }
  }

  void readBool(const char* section, const char* key, bool& out) {
    if (const toml::node* n = find(section, key)) {
      if (auto v = n->value<bool>()) {
        out = *v;
      } else {
        fail(*n, section, key, "expected true or false");
      }
    }
  }

  template <typename T>
  void readList(const char* section, const char* key, std::vector<T>& out) {
    const toml::node* n = find(section, key);
    if (n == nullptr) return;
    const toml::array* arr = n->as_array();
    if (arr == nullptr) {
      fail(*n, section, key, "expected an array");
      return;
    }
    out.clear();
    for (const toml::node& item : *arr) {
      if constexpr (std::is_same_v<T, std::string>) {
        auto v = item.value<std::string>();
        if (!v) return fail(item, section, key, "expected an array of strings");
        out.push_back(*v);
      } else {
        auto v = item.value<std::int64_t>();
        if (!v || *v < 0 || *v > 0xffffffffLL) {
          return fail(item, section, key, "expected an array of non-negative integers");
        }
        out.push_back(static_cast<T>(*v));
      }
    }
  }

  // checkUnknown reports the first key or section that was never read.
  void checkUnknown() {
    for (const auto& [section_key, section_node] : root_) {
      const std::string section(section_key.str());
      const toml::table* table = section_node.as_table();
      if (table == nullptr || !known_sections_.count(section)) {
        return fail(section_node, section.c_str(), nullptr, "unknown section");
      }
      for (const auto& [key, node] : *table) {
        if (!read_.count(section + "." + std::string(key.str()))) {
          return fail(node, section.c_str(), std::string(key.str()).c_str(), "unknown key");
        }
      }
    }
  }

  void declareSection(const char* section) { known_sections_.insert(section); }

 private:
  const toml::node* find(const char* section, const char* key) {
    declareSection(section);
    read_.insert(std::string(section) + "." + key);
    const toml::node* s = root_.get(section);
    if (s == nullptr || !s->is_table()) return nullptr;
    return s->as_table()->get(key);
  }

  void fail(const toml::node& n, const char* section, const char* key, const std::string& why) {
    if (!error_.empty()) return;
    const auto& where = n.source().begin;
    error_ = name_ + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
             section + (key ? std::string(".") + key : "") + ": " + why;
  }

  const std::string& name_;
  const toml::table& root_;
  std::set<std::string> read_;
  std::set<std::string> known_sections_;
  std::string error_;
};

}  // namespace

std::variant<RunConfig, std::string> parseRunConfig(const std::string& text,
                                                    const std::string& name) {
  // Debian's toml++ is built with exceptions: a syntax error arrives as toml::parse_error.
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& err) {
    return name + ":" + std::to_string(err.source().begin.line) + ":" +
           std::to_string(err.source().begin.column) + ": " + std::string(err.description());
  }
  RunConfig c;
  ConfigReader r(name, root);
  r.readList("capture", "interfaces", c.interfaces);
  r.readUint("capture", "queues", c.queues, 0, 64);
  r.readList("capture", "cpus", c.cpus);
  r.readBool("capture", "fast_path", c.fast_path);
  r.readString("rules", "ipv4", c.rules_v4);
  r.readString("rules", "ipv6", c.rules_v6);
  r.readList("rules", "ipsets", c.ipsets);
  r.readString("injection", "inject_interface", c.inject_if);
  r.readString("injection", "proxy_interface", c.proxy_if);
  r.readString("injection", "proxy_v4", c.proxy_v4);
  r.readString("injection", "next_hop_v4", c.next_hop_v4);
  r.readString("injection", "proxy_v6", c.proxy_v6);
  r.readString("injection", "next_hop_v6", c.next_hop_v6);
  r.readUint("injection", "route_table", c.route_table, 1, 0xfffffffe);
  r.readUint("conntrack", "max_entries", c.max_entries, 16, 1u << 30);
  r.readUint("conntrack", "shards", c.shards, 1, 1024);
  r.readString("api", "socket", c.api_socket);
  r.readList("api", "allowed_uids", c.api_uids);
  r.readList("api", "allowed_gids", c.api_gids);
  // Out of the accepted range, so that it can only mean "not in the file".
  constexpr std::uint32_t kUnset = 0xffffffffu;
  std::uint32_t view_slots = kUnset;
  r.readUint("api", "view_slots", view_slots, 0, 1u << 30);
  if (view_slots != kUnset) c.api_view_slots = view_slots;
  r.readBool("output", "enabled", c.output_enabled);
  r.readList("output", "protocols", c.output_protocols);
  r.readList("output", "exclude_uids", c.output_exclude_uids);
  r.readList("output", "exclude_marks", c.output_exclude_marks);
  r.readString("output", "source_v4", c.output_source_v4);
  r.readString("output", "source_v6", c.output_source_v6);
  r.readBool("output", "ipv6", c.output_ipv6);
  r.readUint("output", "route_table", c.output_route_table, 1, 0xfffffffe);
  r.readUint("output", "rule_pref", c.output_rule_pref, 1, 32000);
  r.readString("metrics", "listen", c.metrics_listen);
  r.checkUnknown();
  if (!r.error().empty()) return r.error();

  if (c.interfaces.empty()) return name + ": capture.interfaces: at least one interface is needed";
  if (c.rules_v4.empty() && c.rules_v6.empty()) {
    return name + ": rules: set rules.ipv4 and/or rules.ipv6";
  }
  for (const auto& p : c.output_protocols) {
    if (p != "tcp" && p != "udp") {
      return name + ": output.protocols: \"" + p + "\" is neither \"tcp\" nor \"udp\"";
    }
  }
  if (c.output_enabled && c.output_protocols.empty()) {
    return name + ": output.protocols: at least one protocol when output is enabled";
  }
  if (c.output_enabled && c.output_route_table == c.route_table) {
    return name + ": output.route_table: must differ from injection.route_table";
  }
  if ((c.shards & (c.shards - 1)) != 0) return name + ": conntrack.shards: must be a power of two";
  if (c.max_entries < c.shards) return name + ": conntrack.max_entries: fewer than the shards";
  return c;
}

std::variant<RunConfig, std::string> loadRunConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "cannot read " + path + ": " + std::strerror(errno);
  std::ostringstream text;
  text << in.rdbuf();
  return parseRunConfig(text.str(), path);
}

}  // namespace xredir
