/* SPDX-License-Identifier: Apache-2.0 */
/* tests/unit/proxy/regex_test.c — proxy/regex: RE2 semantics on PCRE2. Full vs partial
 * matches, RE2 syntax that PCRE2 reads differently, every construct RE2 refuses (with its
 * message), pathological backtracking cut short by the match limit, RE2::GlobalReplace
 * (groups, empty matches) and substitution checks, arena ownership. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "proxy/arena.h"
#include "proxy/err.h"
#include "proxy/regex.h"

static struct rm_regex *compile(const char *p, unsigned flags)
{
    struct rm_regex *re = NULL;
    char err[256];
    int rc = rm_regex_compile(p, strlen(p), flags, NULL, &re, err, sizeof(err));
    if (rc)
        fail_msg("compile \"%s\": %s", p, err);
    return re;
}

static bool full(const char *p, const char *s)
{
    struct rm_regex *re = compile(p, RM_REGEX_FULL);
    bool m = rm_regex_full_match(re, s, strlen(s));
    /* The same answer from a searchable regex (match-time anchoring). */
    struct rm_regex *re2 = compile(p, 0);
    if (rm_regex_full_match(re2, s, strlen(s)) != m)
        fail_msg("\"%s\" on \"%s\": compile-time and match-time anchoring disagree", p, s);
    rm_regex_free(re);
    rm_regex_free(re2);
    return m;
}

static bool search(const char *p, const char *s)
{
    struct rm_regex *re = compile(p, 0);
    bool m = rm_regex_search(re, s, strlen(s));
    rm_regex_free(re);
    return m;
}

/* Asserts that |p| is refused with exactly |want|. */
static void refused(const char *p, const char *want)
{
    struct rm_regex *re = (struct rm_regex *)1;
    char err[256];
    int rc = rm_regex_compile(p, strlen(p), 0, NULL, &re, err, sizeof(err));
    if (rc != -RM_ECONFIG)
        fail_msg("\"%s\" was accepted", p);
    assert_null(re);
    if (strcmp(err, want) != 0)
        fail_msg("\"%s\":\n  got:  %s\n  want: %s", p, err, want);
}

static void test_full_vs_partial(void **state)
{
    (void)state;
    assert_true(full("a+b", "aab"));
    assert_false(full("a+b", "xaab"));
    assert_false(full("a+b", "aabx"));
    assert_true(search("a+b", "xaabx"));
    assert_false(search("a+b", "xyz"));
    /* Full match needs every alternative considered (leftmost-first is not enough). */
    assert_true(full("a|ab", "ab"));
    assert_true(full("/api/v[0-9]+/users/[^/]+", "/api/v12/users/bob"));
    assert_false(full("/api/v[0-9]+/users/[^/]+", "/api/v12/users/bob/x"));
    assert_true(full("", ""));
    assert_false(full("", "a"));
}

static void test_re2_semantics(void **state)
{
    (void)state;
    /* $ is the end of the text, not "before a final newline" as in PCRE/Perl. */
    assert_false(search("abc$", "abc\n"));
    assert_true(search("abc$", "xabc"));
    assert_true(search("(?m)abc$", "abc\nx"));
    /* \v is the vertical tab only; \s does not include it in RE2. */
    assert_true(full("a\\vb", "a\vb"));
    assert_false(full("a\\vb", "a\nb"));
    assert_false(full("\\s", "\v"));
    assert_true(full("\\s+", " \t\r\n\f"));
    assert_true(full("[\\s]+", " \t"));
    assert_false(full("[\\s]", "\v"));
    assert_true(full("\\S+", "ab"));
    /* Octal escapes: \0, and \1-\7 followed by another octal digit. */
    assert_true(full("\\101\\102", "AB"));
    struct rm_regex *nul = compile("a\\0b", RM_REGEX_FULL);
    assert_true(rm_regex_full_match(nul, "a\0b", 3));
    rm_regex_free(nul);
    assert_true(full("[\\101-\\103]+", "ABC"));
    /* '{' that is not a repetition is a literal in RE2. */
    assert_true(full("a{,3}", "a{,3}"));
    assert_true(full("a{x}", "a{x}"));
    assert_true(full("a{2}", "aa"));
    assert_true(full("a{2,}", "aaaa"));
    assert_true(full("a{1,2}b", "aab"));
    assert_false(full("x{1000}", ""));
    /* Flags, named groups, classes, properties, \Q...\E. */
    assert_true(full("(?i)abc", "ABC"));
    assert_true(full("(?i:a)b", "Ab"));
    assert_false(full("(?i:a)b", "AB"));
    assert_true(full("(?s)a.b", "a\nb"));
    assert_false(full("a.b", "a\nb"));
    assert_true(full("(?U)a+", "a"));
    assert_true(full("(?P<id>[0-9]+)-(?<n>x)", "42-x"));
    assert_true(full("[[:alpha:]]+[[:^digit:]]", "abc-"));
    assert_true(full("\\pL+\\p{Greek}", "abcλ"));
    assert_true(full("\\Qa.b\\E", "a.b"));
    assert_false(full("\\Qa.b\\E", "axb"));
    assert_true(full("[]a]+", "]a]"));
    assert_true(full("[a\\]]+", "a]"));
    assert_true(full("\\x41\\x{42}", "AB"));
    assert_true(full("\\.\\*\\+", ".*+"));
    assert_true(full("[a[]+", "a["));
    assert_true(full("\\d\\w\\b", "1a"));
    assert_true(full("\\Aab\\z", "ab"));
    /* Lazy quantifiers are RE2 too. */
    assert_true(full("a+?b", "aab"));
    assert_true(full("a{1,3}?b", "ab"));
    /* UTF-8: '.' is one character; invalid bytes never match a pattern character. */
    assert_true(full(".", "\xc3\xa9"));
    assert_false(full(".", "\xff"));
    assert_false(full("a.*", "a\xff\xfe")); /* RE2: '.' is a valid character */
    assert_true(search("a.*", "a\xff\xfe"));
    assert_false(full("a..", "a\xff\xfe"));
}

static void test_refused_constructs(void **state)
{
    (void)state;
    refused("(a)\\1", "backreferences (\\1) are not supported (RE2 syntax)");
    refused("\\8", "backreferences (\\8) are not supported (RE2 syntax)");
    refused("(?P<n>a)(?P=n)", "backreferences (?P=name) are not supported (RE2 syntax)");
    refused("(?<n>a)\\k<n>", "backreferences (\\k) are not supported (RE2 syntax)");
    refused("(a)\\g1", "backreferences (\\g) are not supported (RE2 syntax)");
    refused("a(?=b)", "lookahead assertions (?= and (?! are not supported (RE2 syntax)");
    refused("a(?!b)", "lookahead assertions (?= and (?! are not supported (RE2 syntax)");
    refused("(?<=a)b", "lookbehind assertions (?<= and (?<! are not supported (RE2 syntax)");
    refused("(?<!a)b", "lookbehind assertions (?<= and (?<! are not supported (RE2 syntax)");
    refused("(?>a+)b", "atomic groups (?> are not supported (RE2 syntax)");
    const char *poss = "possessive quantifiers (x*+, x++, x?+, x{n}+) are not supported "
                       "(RE2 syntax)";
    refused("a*+", poss);
    refused("a++", poss);
    refused("a?+", poss);
    refused("a{2}+", poss);
    refused("a{2,5}+", poss);
    refused("a*?+", poss);
    refused("(a)(?1)", "recursion and subroutine calls are not supported (RE2 syntax)");
    refused("(?R)", "recursion and subroutine calls are not supported (RE2 syntax)");
    refused("(?&n)", "recursion and subroutine calls are not supported (RE2 syntax)");
    refused("(?-1)", "recursion and subroutine calls are not supported (RE2 syntax)");
    refused("(?P>n)", "recursion and subroutine calls are not supported (RE2 syntax)");
    refused("(?(1)a|b)", "conditional groups (?( are not supported (RE2 syntax)");
    refused("(*UTF)a", "(*VERB) sequences are not supported (RE2 syntax)");
    refused("a(*SKIP)b", "(*VERB) sequences are not supported (RE2 syntax)");
    refused("(?#note)a", "comments (?# are not supported (RE2 syntax)");
    refused("(?|a|b)", "branch reset groups (?| are not supported (RE2 syntax)");
    refused("(?C1)a", "callouts (?C are not supported (RE2 syntax)");
    refused("(?x)a b", "invalid or unsupported Perl flag 'x' (RE2 knows i, m, s, U)");
    refused("(?-)a", "invalid or unsupported Perl flag group");
    refused("(?'n'a)", "invalid named capture group: use (?P<name>re)");
    refused("(?P<>a)", "invalid named capture group");
    refused("a\\K", "invalid escape sequence: \\K (not supported by RE2)");
    refused("\\Gabc", "invalid escape sequence: \\G (not supported by RE2)");
    refused("a\\Z", "invalid escape sequence: \\Z (not supported by RE2)");
    refused("\\R", "invalid escape sequence: \\R (not supported by RE2)");
    refused("\\h", "invalid escape sequence: \\h (not supported by RE2)");
    refused("\\e", "invalid escape sequence: \\e");
    refused("\\cA", "invalid escape sequence: \\c");
    refused("\\_", "invalid escape sequence: \\_");
    refused("[\\b]", "invalid escape sequence: \\b");
    refused("\\C", "\\C (any byte) is not supported");
    refused("a\\", "trailing \\");
    refused("\\xZ1", "invalid escape sequence: \\xZ1");
    refused("\\x{110000}", "invalid escape sequence: \\x{110000}");
    refused("x{1001}", "bad repetition operator: {1001}");
    refused("x{2,1001}", "bad repetition operator: {2,1001}");
    refused("x{3,2}", "bad repetition operator: {3,2}");
    refused("[a-", "missing closing ]: [a-");
    /* PCRE2's own errors keep its wording (with the offset when nothing was rewritten). */
    refused("(abc", "missing closing parenthesis at offset 4");
    refused("a**", "quantifier does not follow a repeatable item at offset 2");
    refused("[z-a]", "range out of order in character class at offset 3");
    refused("\xff", "UTF-8 error: illegal byte (0xfe or 0xff) at offset 0");
}

static void test_compile_limits(void **state)
{
    (void)state;
    char *big = malloc(RM_REGEX_MAX_PATTERN + 2);
    assert_non_null(big);
    memset(big, 'a', RM_REGEX_MAX_PATTERN + 1);
    big[RM_REGEX_MAX_PATTERN + 1] = '\0';
    struct rm_regex *re;
    char err[128];
    assert_int_equal(
        rm_regex_compile(big, RM_REGEX_MAX_PATTERN + 1, 0, NULL, &re, err, sizeof(err)),
        -RM_ECONFIG);
    assert_string_equal(err, "pattern too long (16385 bytes, at most 16384)");
    assert_int_equal(rm_regex_compile(big, RM_REGEX_MAX_PATTERN, 0, NULL, &re, err, sizeof(err)),
                     0);
    rm_regex_free(re);
    free(big);
    assert_int_equal(rm_regex_compile("a\0b", 3, 0, NULL, &re, err, sizeof(err)), -RM_ECONFIG);
    assert_string_equal(err, "pattern contains a NUL byte");
    /* Capture counts. */
    re = compile("(a)(?:b)(?P<c>c)((d))", 0);
    assert_int_equal(rm_regex_capture_count(re), 4);
    assert_string_equal(rm_regex_pattern(re), "(a)(?:b)(?P<c>c)((d))");
    rm_regex_free(re);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_catastrophic_backtracking(void **state)
{
    (void)state;
    /* Exponential in a backtracking engine, linear in RE2: each must give up quickly. */
    static const char *const pats[] = {"(a+)+$", "(a|aa)+$", "(a*)*$", "(x+x+)+$"};
    char subj[4096];
    memset(subj, 'a', sizeof(subj) - 2);
    memset(subj + sizeof(subj) / 2, 'x', sizeof(subj) / 2 - 2);
    subj[sizeof(subj) - 2] = '!';
    subj[sizeof(subj) - 1] = '\0';
    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
        struct rm_regex *fre = compile(pats[i], RM_REGEX_FULL);
        struct rm_regex *sre = compile(pats[i], 0);
        uint64_t hits = rm_regex_limit_hits();
        double t0 = now();
        assert_false(rm_regex_full_match(fre, subj, strlen(subj)));
        assert_false(rm_regex_search(sre, subj, strlen(subj)));
        double dt = now() - t0;
        if (dt > 2.0)
            fail_msg("%s took %.3fs", pats[i], dt);
        if (rm_regex_limit_hits() == hits)
            fail_msg("%s: no limit hit", pats[i]);
        /* Replacement refuses rather than returning a half-done string. */
        struct arena a;
        arena_init(&a, 0);
        char *out = NULL;
        size_t len = 0;
        assert_int_equal(rm_regex_replace_all(sre, subj, strlen(subj), "x", &a, &out, &len, NULL),
                         -RM_ELIMIT);
        assert_null(out);
        arena_fini(&a);
        rm_regex_free(fre);
        rm_regex_free(sre);
    }
    /* A lower limit makes even a modest pattern give up; the default comes back with 0. */
    rm_regex_set_match_limit(10);
    struct rm_regex *re = compile("(a|ab)*c", RM_REGEX_FULL);
    assert_false(rm_regex_full_match(re, "ababababababababababc", 21));
    rm_regex_set_match_limit(0);
    assert_true(rm_regex_full_match(re, "ababababababababababc", 21));
    rm_regex_free(re);
}

/* Replaces with |p| / |sub| and returns the result (static buffer). */
static const char *replace(const char *p, const char *s, const char *sub, unsigned *count)
{
    static char buf[512];
    struct arena a;
    arena_init(&a, 0);
    struct rm_regex *re = compile(p, 0);
    char err[256];
    assert_int_equal(rm_regex_check_substitution(re, sub, err, sizeof(err)), 0);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(rm_regex_replace_all(re, s, strlen(s), sub, &a, &out, &len, count), 0);
    assert_int_equal(strlen(out), len);
    snprintf(buf, sizeof(buf), "%s", out);
    rm_regex_free(re);
    arena_fini(&a);
    return buf;
}

static void test_replace_all(void **state)
{
    (void)state;
    unsigned n;
    /* The examples of Envoy's RouteAction.regex_rewrite documentation. */
    assert_string_equal(
        replace("^/service/([^/]+)(/.*)$", "/service/foo/v1/api", "\\2/instance/\\1", &n),
        "/v1/api/instance/foo");
    assert_int_equal(n, 1);
    assert_string_equal(replace("one", "/xxx/one/yyy/one/zzz", "two", &n), "/xxx/two/yyy/two/zzz");
    assert_int_equal(n, 2);
    assert_string_equal(replace("^(.*?)one(.*)$", "/xxx/one/yyy/one/zzz", "\\1two\\2", &n),
                        "/xxx/two/yyy/one/zzz");
    assert_string_equal(replace("(?i)/xxx/", "/aaa/XxX/bbb", "/yyy/", &n), "/aaa/yyy/bbb");
    /* \0 is the whole match, \\ a backslash, an unset group is empty. */
    assert_string_equal(replace("b+", "abbc", "[\\0]", &n), "a[bb]c");
    assert_string_equal(replace("b", "abc", "\\\\", &n), "a\\c");
    assert_string_equal(replace("(a)|b", "ab", "[\\1]", &n), "[a][]");
    /* No match: the input comes back unchanged. */
    assert_string_equal(replace("z", "abc", "y", &n), "abc");
    assert_int_equal(n, 0);
    /* RE2::GlobalReplace on empty matches: none right after the previous match. */
    assert_string_equal(replace("a*", "baaac", "-", &n), "-b-c-");
    assert_int_equal(n, 3);
    assert_string_equal(replace("", "ab", "-", &n), "-a-b-");
    /* ... and the scan steps over whole UTF-8 characters. */
    assert_string_equal(replace("x*", "\xc3\xa9", "-", &n), "-\xc3\xa9-");
    /* Anchors see the whole subject even when the scan restarts mid-way. */
    assert_string_equal(replace("^a", "aaa", "b", &n), "baa");
    assert_string_equal(replace("\\ba", "a a", "b", &n), "b b");

    /* A regex compiled for full matching cannot be searched or replaced with. */
    struct rm_regex *re = compile("a", RM_REGEX_FULL);
    struct arena a;
    arena_init(&a, 0);
    char *out;
    size_t len;
    assert_false(rm_regex_search(re, "a", 1));
    assert_int_equal(rm_regex_replace_all(re, "a", 1, "b", &a, &out, &len, NULL), -RM_EINVAL);
    arena_fini(&a);
    rm_regex_free(re);
}

static void test_check_substitution(void **state)
{
    (void)state;
    struct rm_regex *re = compile("(a)(b)", 0);
    char err[256];
    assert_int_equal(rm_regex_check_substitution(re, "\\0\\1\\2\\\\x", err, sizeof(err)), 0);
    assert_int_equal(rm_regex_check_substitution(re, "\\3", err, sizeof(err)), -RM_ECONFIG);
    assert_string_equal(err, "Rewrite schema requests 3 matches, but the regexp only has 2 "
                             "parenthesized subexpressions.");
    assert_int_equal(rm_regex_check_substitution(re, "\\x", err, sizeof(err)), -RM_ECONFIG);
    assert_string_equal(err, "Rewrite schema error: '\\' must be followed by a digit or '\\'.");
    assert_int_equal(rm_regex_check_substitution(re, "ab\\", err, sizeof(err)), -RM_ECONFIG);
    assert_string_equal(err, "Rewrite schema error: '\\' not allowed at end.");
    rm_regex_free(re);
}

static void test_arena_owned(void **state)
{
    (void)state;
    struct arena a;
    arena_init(&a, 0);
    struct rm_regex *re;
    char err[64];
    for (int i = 0; i < 50; i++)
        assert_int_equal(
            rm_regex_compile("^/x/([a-z]+)$", 12, RM_REGEX_FULL, &a, &re, err, sizeof(err)), 0);
    assert_true(rm_regex_full_match(re, "/x/abc", 6));
    arena_fini(&a); /* frees all 50 (ASan reports a leak otherwise) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_vs_partial),           cmocka_unit_test(test_re2_semantics),
        cmocka_unit_test(test_refused_constructs),        cmocka_unit_test(test_compile_limits),
        cmocka_unit_test(test_catastrophic_backtracking), cmocka_unit_test(test_replace_all),
        cmocka_unit_test(test_check_substitution),        cmocka_unit_test(test_arena_owned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
