/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/regex.h — Envoy's safe_regex (Google RE2 syntax) on top of PCRE2. Patterns are
 * checked against RE2's grammar and translated where PCRE2 reads the same text differently,
 * so a pattern Envoy accepts matches the same strings here, and one Envoy (RE2) rejects is
 * rejected: backreferences, lookaround, atomic groups, possessive quantifiers, recursion,
 * conditionals, callouts, (*VERBS) and escapes RE2 lacks are config errors. RE2 runs in
 * linear time; PCRE2 backtracks, so every match runs under a match limit (and, without JIT,
 * depth and heap limits): a pathological pattern on hostile input fails fast instead of
 * pinning a worker, and counts as "no match" (rm_regex_limit_hits() counts them).
 *
 * A compiled rm_regex is immutable and may be used from any thread at once. Matching keeps
 * one small per-thread scratch (match data, JIT stack) created at the thread's first match,
 * so matching does not allocate afterwards. Compiling runs on the main thread at config load.
 */
#ifndef RM_REGEX_H
#define RM_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct rm_regex; /* opaque */

/* Compile flags. */
#define RM_REGEX_FULL                                                                              \
    0x1u /* anchored at both ends at compile time: the fast form of                                \
          * rm_regex_full_match(); such a regex cannot be searched */

/* Largest pattern accepted (bytes, before translation). */
#define RM_REGEX_MAX_PATTERN 16384u
/* Largest repetition count RE2 accepts in {n,m}. */
#define RM_REGEX_MAX_REPEAT 1000u

/*
 * Compiles |pattern| (|len| bytes, RE2 syntax, UTF-8) with |flags| (RM_REGEX_*).
 * When |a| is non-NULL the regex is released by an arena_on_free() cleanup of |a| (so a
 * config snapshot frees its regexes with its arena) and must not be passed to
 * rm_regex_free(); with |a| NULL the caller owns it and frees it with rm_regex_free().
 *
 * Returns 0 and the regex in |*out|; -RM_ECONFIG with a one-line reason in |err| (|errlen|
 * bytes, e.g. "lookahead assertions (?= and (?! are not supported (RE2 syntax)" or
 * "missing closing parenthesis at offset 4"); or -RM_ENOMEM.
 */
int rm_regex_compile(const char *pattern, size_t len, unsigned flags, struct arena *a,
                     struct rm_regex **out, char *err, size_t errlen);

/* Frees a regex compiled with a NULL arena. NULL is a no-op. */
void rm_regex_free(struct rm_regex *re);

/* The pattern as written (NUL-terminated), for logs and config dumps. */
const char *rm_regex_pattern(const struct rm_regex *re);

/* Number of capturing groups in the pattern. */
uint32_t rm_regex_capture_count(const struct rm_regex *re);

/* True when the WHOLE of |s| (|n| bytes) matches, as RE2::FullMatch (Envoy's safe_regex
 * semantics everywhere: route paths, header and query values). Faster on a regex compiled
 * with RM_REGEX_FULL. Invalid UTF-8 in |s| never matches a pattern character. False when
 * the match limit is hit. */
bool rm_regex_full_match(const struct rm_regex *re, const char *s, size_t n);

/* True when some substring of |s| matches (RE2::PartialMatch). |re| must not have been
 * compiled with RM_REGEX_FULL (returns false then). False when the match limit is hit. */
bool rm_regex_search(const struct rm_regex *re, const char *s, size_t n);

/*
 * Checks a regex_rewrite substitution against |re| the way RE2::CheckRewriteString does:
 * "\0".."\9" name a group that must exist, "\\" is a backslash, any other '\' is an error.
 * Returns 0, or -RM_ECONFIG with the reason in |err|.
 */
int rm_regex_check_substitution(const struct rm_regex *re, const char *sub, char *err,
                                size_t errlen);

/*
 * Replaces every non-overlapping match of |re| in |s| (|n| bytes) with |sub| (checked by
 * rm_regex_check_substitution(): \0 is the whole match, \1..\9 the groups, an unset group is
 * empty), as RE2::GlobalReplace does: an empty match right after the previous match is
 * skipped, and the scan then steps over one UTF-8 character. The result is written
 * NUL-terminated into |a|: |*out| and |*outlen| (when nothing matched, a copy of |s|).
 * |*replaced| (may be NULL) receives the number of replacements.
 * Returns 0, -RM_ELIMIT when the match limit was hit (nothing written: keep the input), or
 * -RM_ENOMEM. |re| must not have been compiled with RM_REGEX_FULL (-RM_EINVAL).
 */
int rm_regex_replace_all(const struct rm_regex *re, const char *s, size_t n, const char *sub,
                         struct arena *a, char **out, size_t *outlen, unsigned *replaced);

/* Matches that were cut short by a limit (process-wide, all threads), for stats/logs. */
uint64_t rm_regex_limit_hits(void);

/* The per-match limits, settable for tests (0 restores the default). Main thread only,
 * before workers start matching. match_limit bounds backtracking steps (PCRE2 match
 * limit, default 1000000); it applies to JIT and interpreted matching alike. */
void rm_regex_set_match_limit(uint32_t match_limit);

#endif
