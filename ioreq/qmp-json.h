/* SPDX-License-Identifier: MIT */
/*
 * What RFC 8259 forbids and json-c's strict tokener still lets through,
 * checked on the raw text of one message before it is parsed: numbers
 * such as 1. or -.5 or 00, NaN and Infinity (json-c would echo them back
 * verbatim, and that is not JSON), integers beyond 64 bits (json-c would
 * clamp them, so an echoed id would silently change) and lone UTF-16
 * surrogates (json-c would turn them into U+FFFD).
 */
#ifndef IOREQD_QMP_JSON_H
#define IOREQD_QMP_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* NULL when text[0..len) has none of those, else why, with *at the
 * offset of the offending token. Malformed JSON of other kinds is left to
 * the parser. */
const char *qmp_json_lint(const char *text, size_t len, size_t *at);

#endif
