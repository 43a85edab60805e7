// config_test: the xredir-proxy command line of the contract: defaults, every option, and clear
// errors for bad addresses and values.
#include "config.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace xredir::proxy {
namespace {

ParseResult parse(std::vector<std::string> args, const char* env = nullptr) {
  args.insert(args.begin(), "xredir-proxy");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  return parseCommandLine(static_cast<int>(argv.size()), argv.data(), env);
}

TEST(Config, Defaults) {
  ParseResult r = parse({});
  ASSERT_TRUE(r.config) << r.error;
  const Config& c = *r.config;
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(formatEndpoint(c.listen[0]), "0.0.0.0:15001");
  EXPECT_EQ(c.original_dst, OriginalDstMode::kXredir);
  EXPECT_EQ(c.odst_socket, "/run/xredir/odst.sock");
  EXPECT_TRUE(c.odst_view);
  EXPECT_EQ(c.threads, 1u);
  EXPECT_TRUE(c.cpus.empty());
  EXPECT_EQ(c.mark, 0u);
  EXPECT_EQ(c.connect_timeout_ms, 5000u);
  EXPECT_EQ(c.idle_timeout_s, 300u);
  EXPECT_EQ(c.max_connections, 10000u);
  EXPECT_EQ(c.buffer_size, 65536u);
  EXPECT_FALSE(c.proxy_protocol);
  EXPECT_FALSE(c.metrics);
  EXPECT_EQ(c.drain_timeout_s, 30u);
  EXPECT_EQ(c.log_level, LogLevel::kInfo);
}

TEST(Config, EveryOption) {
  ParseResult r = parse({"--listen",
                         "127.0.0.1:8000",
                         "--listen",
                         "[::1]:8001",
                         "--original-dst",
                         "kernel",
                         "--odst-socket",
                         "/tmp/x.sock",
                         "--no-odst-view",
                         "--threads",
                         "2",
                         "--cpus",
                         "0,1",
                         "--mark",
                         "1337",
                         "--connect-timeout-ms",
                         "250",
                         "--idle-timeout-s",
                         "7",
                         "--max-connections",
                         "3",
                         "--buffer-size",
                         "4096",
                         "--proxy-protocol",
                         "--metrics",
                         "127.0.0.1:9100",
                         "--drain-timeout-s",
                         "2",
                         "--log-level",
                         "debug"});
  ASSERT_TRUE(r.config) << r.error;
  const Config& c = *r.config;
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(formatEndpoint(c.listen[0]), "127.0.0.1:8000");
  EXPECT_EQ(formatEndpoint(c.listen[1]), "[::1]:8001");
  EXPECT_EQ(c.original_dst, OriginalDstMode::kKernel);
  EXPECT_EQ(c.odst_socket, "/tmp/x.sock");
  EXPECT_FALSE(c.odst_view);
  EXPECT_EQ(c.threads, 2u);
  EXPECT_EQ(c.cpus, (std::vector<int>{0, 1}));
  EXPECT_EQ(c.mark, 1337u);
  EXPECT_EQ(c.connect_timeout_ms, 250u);
  EXPECT_EQ(c.idle_timeout_s, 7u);
  EXPECT_EQ(c.max_connections, 3u);
  EXPECT_EQ(c.buffer_size, 4096u);
  EXPECT_TRUE(c.proxy_protocol);
  ASSERT_TRUE(c.metrics);
  EXPECT_EQ(formatEndpoint(*c.metrics), "127.0.0.1:9100");
  EXPECT_EQ(c.drain_timeout_s, 2u);
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
}

TEST(Config, OdstSocketFromEnvironmentUnlessGiven) {
  ParseResult env_only = parse({}, "/run/env.sock");
  ASSERT_TRUE(env_only.config);
  EXPECT_EQ(env_only.config->odst_socket, "/run/env.sock");
  ParseResult flag = parse({"--odst-socket", "/run/flag.sock"}, "/run/env.sock");
  ASSERT_TRUE(flag.config);
  EXPECT_EQ(flag.config->odst_socket, "/run/flag.sock");
}

TEST(Config, Errors) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {{"--listen", "127.0.0.1"}, "--listen"},
      {{"--listen", "::1:80"}, "--listen"},
      {{"--listen", "300.0.0.1:80"}, "--listen"},
      {{"--listen", "127.0.0.1:70000"}, "--listen"},
      {{"--listen", "[::1:80"}, "--listen"},
      {{"--metrics", "localhost:9100"}, "--metrics"},
      {{"--original-dst", "iptables"}, "original-dst"},
      {{"--threads", "0"}, "threads"},
      {{"--cpus", "a,b"}, "--cpus"},
      {{"--cpus", "3-1"}, "--cpus"},
      {{"--log-level", "loud"}, "log-level"},
      {{"--buffer-size", "1"}, "buffer-size"},
      {{"--no-such-flag"}, "no-such-flag"},
  };
  for (const Case& c : cases) {
    ParseResult r = parse(c.args);
    EXPECT_FALSE(r.config) << c.args[0];
    EXPECT_NE(r.error.find(c.mentions), std::string::npos) << r.error;
  }
}

TEST(Config, CpuLists) {
  EXPECT_EQ(parseCpuList("0-3,6"), (std::vector<int>{0, 1, 2, 3, 6}));
  EXPECT_EQ(parseCpuList("5"), (std::vector<int>{5}));
  EXPECT_FALSE(parseCpuList(""));
  EXPECT_FALSE(parseCpuList("1,"));
  EXPECT_FALSE(parseCpuList("-1"));
}

}  // namespace
}  // namespace xredir::proxy
