// Tests of the iptables-restore commands around the rules: table blocks, chain declarations,
// -N/-A/-I/-P and their order semantics, comments, several sources, and the errors of each.
#include <gtest/gtest.h>

#include "load_helpers.h"

namespace xredir::testing {
namespace {

std::vector<std::string> comments(const Chain& c) {
  std::vector<std::string> out;
  for (const Rule& r : c.rules) out.push_back(r.comments.empty() ? "" : r.comments.front());
  return out;
}

TEST(RestoreCommandsTest, InsertWithoutPositionInsertsAtOneAndReversesOrder) {
  const RuleSet rs = loadOk(
      "*nat\n"
      ":X - [0:0]\n"
      "-A X -m comment --comment a\n"
      "-I X -m comment --comment b\n"
      "--insert X -m comment --comment c\n"
      "-I X 2 -m comment --comment d\n"
      "-I X 5 -m comment --comment e\n"
      "--append X -m comment --comment f\n"
      "COMMIT\n");
  const Chain* x = findChain(rs, Table::kNat, "X");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(comments(*x), (std::vector<std::string>{"c", "d", "b", "a", "e", "f"}));
  EXPECT_EQ(x->rules[0].where.line, 5);
  EXPECT_EQ(x->rules[0].where.file, "test.rules");
}

TEST(RestoreCommandsTest, AddressListsExpandLikeIptables) {
  const RuleSet rs = loadOk(
      "*nat\n"
      "-A OUTPUT -s 1.1.1.1,2.2.2.2 -d 3.3.3.3,4.4.4.4 -j RETURN\n"
      "-I PREROUTING -s 5.5.5.5,6.6.6.6 -j RETURN\n"
      "COMMIT\n");
  const Chain* out = findChain(rs, Table::kNat, "OUTPUT");
  ASSERT_TRUE(out && out->rules.size() == 4);
  std::vector<std::string> pairs;
  for (const Rule& r : out->rules) {
    pairs.push_back(formatCidr(r.src->cidr) + ">" + formatCidr(r.dst->cidr));
  }
  EXPECT_EQ(pairs, (std::vector<std::string>{"1.1.1.1/32>3.3.3.3/32", "1.1.1.1/32>4.4.4.4/32",
                                             "2.2.2.2/32>3.3.3.3/32", "2.2.2.2/32>4.4.4.4/32"}));
  // -I inserts each at the same position, so the second address ends up first.
  const Chain* pre = findChain(rs, Table::kNat, "PREROUTING");
  ASSERT_TRUE(pre && pre->rules.size() == 2);
  EXPECT_EQ(formatCidr(pre->rules[0].src->cidr), "6.6.6.6/32");
  EXPECT_EQ(formatCidr(pre->rules[1].src->cidr), "5.5.5.5/32");
}

TEST(RestoreCommandsTest, TablesChainsPoliciesAndComments) {
  const RuleSet rs = loadOk(
      "# header comment\n"
      "\n"
      "* mangle\n"
      "   # indented comment\n"
      ":PREROUTING DROP [12:345]\n"
      ":INPUT ACCEPT\n"
      "-P OUTPUT DROP\n"
      "-N MY_CHAIN\n"
      "[3:4] -A MY_CHAIN -j ACCEPT\n"
      "-A PREROUTING -j MY_CHAIN\n"
      "COMMIT\n"
      "*filter\n"
      ":FORWARD DROP [0:0]\n"
      "-A FORWARD -j DROP\n"
      "COMMIT\n");
  ASSERT_EQ(rs.tables.size(), 2u);
  EXPECT_EQ(rs.tables[0].table, Table::kMangle);
  EXPECT_EQ(rs.tables[1].table, Table::kFilter);
  const TableRules& mangle = rs.tables[0];
  // Built-in chains first in hook order, then user chains.
  std::vector<std::string> names;
  for (const Chain& c : mangle.chains) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"PREROUTING", "INPUT", "FORWARD", "OUTPUT",
                                             "POSTROUTING", "MY_CHAIN"}));
  EXPECT_EQ(mangle.findChain("PREROUTING")->policy, Policy::kDrop);
  EXPECT_EQ(mangle.findChain("INPUT")->policy, Policy::kAccept);
  EXPECT_EQ(mangle.findChain("OUTPUT")->policy, Policy::kDrop);
  EXPECT_FALSE(mangle.findChain("MY_CHAIN")->builtin);
  EXPECT_EQ(mangle.findChain("MY_CHAIN")->rules.size(), 1u);
  EXPECT_EQ(rs.tables[1].findChain("FORWARD")->policy, Policy::kDrop);
  EXPECT_EQ(rs.tables[1].findChain("FORWARD")->rules.at(0).target.kind, TargetKind::kDrop);
}

TEST(RestoreCommandsTest, SourcesConcatenateLikeNoflush) {
  const std::vector<RuleSource> sources = {
      {"one.rules", "*nat\n:A -\n-A A -j RETURN\n-A OUTPUT -j A\nCOMMIT\n"},
      {"two.rules", "*nat\n-A A -m comment --comment second\n-N B\n-A OUTPUT -j B\nCOMMIT\n"},
      {"three.rules", "*nat\n:B -\n:A -\n-A A -m comment --comment flushed\nCOMMIT\n"},
  };
  auto r = loadRuleSet(sources, {}, LoadOptions{});
  ASSERT_TRUE(std::holds_alternative<RuleSet>(r)) << std::get<LoadError>(r).message();
  const RuleSet& rs = std::get<RuleSet>(r);
  ASSERT_EQ(rs.tables.size(), 1u);
  // `:A -` of an existing chain flushes it (iptables-restore --noflush).
  const Chain* a = findChain(rs, Table::kNat, "A");
  ASSERT_TRUE(a && a->rules.size() == 1);
  EXPECT_EQ(a->rules[0].comments, (std::vector<std::string>{"flushed"}));
  EXPECT_EQ(a->rules[0].where.file, "three.rules");
  EXPECT_EQ(findChain(rs, Table::kNat, "OUTPUT")->rules.size(), 2u);
}

TEST(RestoreCommandsTest, OtherFamilyLinesAreSkipped) {
  const RuleSet v4 = loadOk("*nat\n-6 -A OUTPUT -d ::1 -j RETURN\n-A OUTPUT -j RETURN\nCOMMIT\n");
  EXPECT_EQ(findChain(v4, Table::kNat, "OUTPUT")->rules.size(), 1u);
  const RuleSet v6 =
      loadOk("*nat\n--ipv4 -A OUTPUT -d 1.2.3.4 -j RETURN\n-6 -A OUTPUT -d ::1 -j RETURN\nCOMMIT\n",
             Family::kV6);
  ASSERT_EQ(findChain(v6, Table::kNat, "OUTPUT")->rules.size(), 1u);
  EXPECT_EQ(formatCidr(findChain(v6, Table::kNat, "OUTPUT")->rules[0].dst->cidr), "::1/128");
}

struct BadCase {
  const char* name;
  const char* text;
  int line;
  int column;
  const char* reason;
};

TEST(RestoreCommandsTest, RefusedInputsNameLineColumnAndReason) {
  const BadCase cases[] = {
      {"append to missing chain", "*nat\n-A NOSUCH -j RETURN\nCOMMIT\n", 2, 4,
       "chain NOSUCH does not exist in table nat"},
      {"jump before declaration", "*nat\n-A OUTPUT -j LATER\n:LATER -\nCOMMIT\n", 2, 14,
       "unknown target or chain LATER"},
      {"missing COMMIT", "*nat\n-A OUTPUT -j RETURN\n", 2, 0,
       "table nat (line 1) is not closed by COMMIT"},
      {"table inside table", "*nat\n*filter\nCOMMIT\n", 2, 1, "table nat (line 1) is not closed"},
      {"unknown table", "*security\nCOMMIT\n", 1, 2, "unknown table \"security\""},
      {"unknown table with space", "* bogus\nCOMMIT\n", 1, 3, "unknown table \"bogus\""},
      {"rule outside table", "-A OUTPUT -j RETURN\n", 1, 1, "outside of a *table block"},
      {"COMMIT outside table", "COMMIT\n", 1, 1, "COMMIT outside"},
      {"user chain policy", "*nat\n:X ACCEPT [0:0]\nCOMMIT\n", 2, 4, "user chain takes policy -"},
      {"bad builtin policy", "*nat\n:PREROUTING REJECT\nCOMMIT\n", 2, 13, "invalid policy"},
      {"chain without policy", "*nat\n:X\nCOMMIT\n", 2, 2, "without a policy"},
      {"bad counters", "*nat\n:X - 12\nCOMMIT\n", 2, 6, "invalid counters"},
      {"junk after counters", "*nat\n:X - [0:0] junk\nCOMMIT\n", 2, 12, "unexpected \"junk\""},
      {"new chain twice", "*nat\n-N X\n-N X\nCOMMIT\n", 3, 4, "chain X already exists"},
      {"new builtin", "*nat\n-N OUTPUT\nCOMMIT\n", 2, 4, "chain OUTPUT already exists"},
      {"chain named like a target", "*nat\n-N REDIRECT\nCOMMIT\n", 2, 4, "clashes with a target"},
      {"chain name too long", "*nat\n-N ABCDEFGHIJKLMNOPQRSTUVWXYZ123\nCOMMIT\n", 2, 4,
       "longer than 28"},
      {"chain name starting with -", "*nat\n:-X -\nCOMMIT\n", 2, 2, "must not start with -"},
      {"policy on user chain", "*nat\n-N X\n-P X ACCEPT\nCOMMIT\n", 3, 4,
       "only be set on built-in chains"},
      {"DROP policy in nat", "*nat\n-P PREROUTING DROP\nCOMMIT\n", 2, 15,
       "DROP is not allowed in the nat table"},
      {"insert too far", "*nat\n-N X\n-A X\n-I X 3 -j RETURN\nCOMMIT\n", 4, 6,
       "index of insertion too big"},
      {"insert at zero", "*nat\n-I OUTPUT 0 -j RETURN\nCOMMIT\n", 2, 11, "invalid rule number"},
      {"insert at word", "*nat\n-I OUTPUT first -j RETURN\nCOMMIT\n", 2, 11,
       "invalid rule number \"first\""},
      {"unsupported command", "*nat\n-D OUTPUT 1\nCOMMIT\n", 2, 1, "unsupported command -D"},
      {"not a command", "*nat\nOUTPUT -j RETURN\nCOMMIT\n", 2, 1, "expected a command"},
      {"unterminated quote", "*nat\n-A OUTPUT -m comment --comment \"abc\nCOMMIT\n", 2, 32,
       "unterminated double quote"},
      {"-i in OUTPUT", "*nat\n\n-A OUTPUT -i eth0 -j RETURN\nCOMMIT\n", 3, 0,
       "-i cannot be used in the OUTPUT chain"},
      {"-o in PREROUTING", "*nat\n-A PREROUTING -o eth0 -j RETURN\nCOMMIT\n", 2, 0,
       "-o cannot be used in the PREROUTING chain"},
  };
  for (const BadCase& c : cases) {
    auto r = loadText(c.text);
    const LoadError* e = std::get_if<LoadError>(&r);
    ASSERT_NE(e, nullptr) << c.name << ": accepted";
    EXPECT_EQ(e->line, c.line) << c.name << ": " << e->message();
    EXPECT_EQ(e->column, c.column) << c.name << ": " << e->message();
    EXPECT_NE(e->reason.find(c.reason), std::string::npos) << c.name << ": " << e->message();
  }
}

TEST(RestoreCommandsTest, IpsetSaveInput) {
  const std::string sets =
      "create tgt hash:net family inet hashsize 1024 maxelem 65536\n"
      "add tgt 10.0.0.0/8\n"
      "add tgt 192.168.1.7\n"
      "create ex hash:ip\n"
      "add ex 10.1.2.3\n";
  const RuleSet rs =
      loadOk("*nat\n-A OUTPUT -m set --match-set tgt dst -j RETURN\nCOMMIT\n", Family::kV4, sets);
  ASSERT_EQ(rs.sets.size(), 2u);
  const IpSet& tgt = rs.sets.at("tgt");
  EXPECT_EQ(tgt.type, "hash:net");
  EXPECT_EQ(tgt.family, Family::kV4);
  ASSERT_EQ(tgt.members.size(), 2u);
  EXPECT_EQ(formatCidr(tgt.members[0]), "10.0.0.0/8");
  EXPECT_EQ(formatCidr(tgt.members[1]), "192.168.1.7/32");
  EXPECT_EQ(rs.sets.at("ex").type, "hash:ip");

  struct SetBad {
    const char* text;
    int line;
    int column;
    const char* reason;
  };
  const SetBad bad[] = {
      {"create a hash:net timeout 60\n", 1, 19, "unsupported set option timeout"},
      {"create a hash:net netmask 24\n", 1, 19, "unsupported set option netmask"},
      {"create a list:set\n", 1, 10, "unsupported set type list:set"},
      {"create a hash:net family inet7\n", 1, 26, "unknown family"},
      {"add a 1.2.3.4\n", 1, 5, "set a does not exist"},
      {"create a hash:net\nadd a 1.2.3.4 nomatch\n", 2, 15, "unsupported element option"},
      {"create a hash:net\nadd a ::1\n", 2, 7, "does not match the family"},
      {"create a hash:net\nadd a 1.2.3.4\nadd a 1.2.3.4/32\n", 3, 7, "already in set"},
      {"create a hash:net\ncreate a hash:ip\n", 2, 8, "set a already exists"},
      {"flush a\n", 1, 1, "unsupported ipset command"},
  };
  for (const SetBad& b : bad) {
    auto r = loadText("*nat\nCOMMIT\n", Family::kV4, b.text);
    const LoadError* e = std::get_if<LoadError>(&r);
    ASSERT_NE(e, nullptr) << b.text;
    EXPECT_EQ(e->file, "test.ipset");
    EXPECT_EQ(e->line, b.line) << b.text << e->message();
    EXPECT_EQ(e->column, b.column) << b.text << e->message();
    EXPECT_NE(e->reason.find(b.reason), std::string::npos) << e->message();
  }
}

}  // namespace
}  // namespace xredir::testing
