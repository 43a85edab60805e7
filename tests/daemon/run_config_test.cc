// Tests for the daemon configuration: the shipped example parses, and every kind of mistake is
// reported with its position.
#include "daemon/run_config.h"

#include <gtest/gtest.h>

namespace xredir {
namespace {

TEST(RunConfigTest, ShippedExampleParses) {
  auto parsed = loadRunConfig(XREDIR_SOURCE_ROOT "/config/xredir.toml");
  ASSERT_TRUE(std::holds_alternative<RunConfig>(parsed)) << std::get<std::string>(parsed);
  const RunConfig& c = std::get<RunConfig>(parsed);
  EXPECT_EQ(c.interfaces, std::vector<std::string>{"eth0"});
  EXPECT_EQ(c.rules_v4, "examples/istio-sidecar.rules");
  EXPECT_EQ(c.max_entries, 1048576u);
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9477");
}

TEST(RunConfigTest, ValuesOverrideDefaults) {
  auto parsed = parseRunConfig(R"(
[capture]
interfaces = ["n0", "n1"]
queues = 2
cpus = [1]
[rules]
ipv6 = "r6"
[conntrack]
max_entries = 4096
shards = 4
[api]
allowed_uids = [1337]
)",
                               "t.toml");
  ASSERT_TRUE(std::holds_alternative<RunConfig>(parsed)) << std::get<std::string>(parsed);
  const RunConfig& c = std::get<RunConfig>(parsed);
  EXPECT_EQ(c.interfaces.size(), 2u);
  EXPECT_EQ(c.queues, 2u);
  EXPECT_EQ(c.cpus, std::vector<int>{1});
  EXPECT_EQ(c.rules_v6, "r6");
  EXPECT_EQ(c.shards, 4u);
  EXPECT_EQ(c.api_uids, std::vector<std::uint32_t>{1337});
  EXPECT_EQ(c.inject_if, "xr0");  // default kept
}

TEST(RunConfigTest, MistakesNameTheirPlace) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"[capture]\ninterfaces = [\"a\"]\n[rules]\nipv4 = 5\n",
       "t.toml:4:8: rules.ipv4: expected a string"},
      {"[capture]\ninterfaces = [\"a\"]\ncolour = 1\n[rules]\nipv4 = \"r\"\n",
       "t.toml:3:10: capture.colour: unknown key"},
      {"[capture]\ninterfaces = [\"a\"]\n[rules]\nipv4 = \"r\"\n[extra]\nx = 1\n",
       "extra: unknown section"},
      {"[capture]\ninterfaces = [\"a\"]\n[rules]\nipv4 = \"r\"\n[conntrack]\nshards = 3\n",
       "t.toml: conntrack.shards: must be a power of two"},
      {"[capture]\ninterfaces = []\n[rules]\nipv4 = \"r\"\n", "at least one interface"},
      {"[capture]\ninterfaces = [\"a\"]\n", "set rules.ipv4 and/or rules.ipv6"},
      {"[capture]\ninterfaces = [\"a\"\n", "t.toml:2:"},
      {"[capture]\ninterfaces = [\"a\"]\nqueues = -1\n[rules]\nipv4 = \"r\"\n",
       "capture.queues: expected an integer from 0 to 64"},
  };
  for (const Case& c : cases) {
    auto parsed = parseRunConfig(c.text, "t.toml");
    ASSERT_TRUE(std::holds_alternative<std::string>(parsed)) << c.text;
    EXPECT_NE(std::get<std::string>(parsed).find(c.error), std::string::npos)
        << std::get<std::string>(parsed);
  }
}

TEST(RunConfigTest, MissingFileIsAnError) {
  auto parsed = loadRunConfig("/nonexistent/xredir.toml");
  ASSERT_TRUE(std::holds_alternative<std::string>(parsed));
  EXPECT_NE(std::get<std::string>(parsed).find("cannot read /nonexistent/xredir.toml"),
            std::string::npos);
}

}  // namespace
}  // namespace xredir
