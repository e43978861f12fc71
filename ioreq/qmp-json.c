/* SPDX-License-Identifier: MIT */
#include "ioreq/qmp-json.h"

#include <glib.h>
#include <stdint.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t skip_digits(const char *s, size_t i, size_t end)
{
    while (i < end && is_digit(s[i]))
        i++;
    return i;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? over exactly s[0..len). */
static bool is_json_number(const char *s, size_t len, bool *integer)
{
    size_t i = s[0] == '-';

    if (i >= len || !is_digit(s[i]))
        return false;
    i = s[i] == '0' ? i + 1 : skip_digits(s, i, len);
    *integer = i == len;
    if (i < len && s[i] == '.') {
        size_t frac = i + 1;
        i = skip_digits(s, frac, len);
        if (i == frac)
            return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i += 1 + (i + 1 < len && (s[i + 1] == '+' || s[i + 1] == '-'));
        size_t exp = i;
        i = skip_digits(s, exp, len);
        if (i == exp)
            return false;
    }
    return i == len;
}

/* An integer token json-c holds exactly: int64, or uint64 when positive. */
static bool fits_64_bits(const char *s, size_t len)
{
    char buf[24];

    if (len >= sizeof(buf))
        return false; /* 20 digits and a sign at most */
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (s[0] == '-')
        return g_ascii_string_to_signed(buf, 10, INT64_MIN, 0, NULL, NULL);
    return g_ascii_string_to_unsigned(buf, 10, 0, UINT64_MAX, NULL, NULL);
}

static bool is_number_byte(char c)
{
    return is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* The number token at text[*i]; moves *i past it. */
static const char *check_number(const char *text, size_t len, size_t *i)
{
    size_t start = *i;
    bool integer = false;

    while (*i < len && is_number_byte(text[*i]))
        (*i)++;
    if (!is_json_number(text + start, *i - start, &integer))
        return "invalid number";
    if (integer && !fits_64_bits(text + start, *i - start))
        return "integer out of range (more than 64 bits)";
    return NULL;
}

/* The code unit of a \uXXXX at text[i] (the backslash), or -1. */
static int utf16_unit(const char *text, size_t len, size_t i)
{
    if (i + 6 > len || text[i] != '\\' || text[i + 1] != 'u')
        return -1;
    int unit = 0;
    for (size_t k = i + 2; k < i + 6; k++) {
        int digit = g_ascii_xdigit_value(text[k]);
        if (digit < 0)
            return -1;
        unit = unit * 16 + digit;
    }
    return unit;
}

static bool is_high_surrogate(int u)
{
    return u >= 0xd800 && u <= 0xdbff;
}

static bool is_low_surrogate(int u)
{
    return u >= 0xdc00 && u <= 0xdfff;
}

/* The string opening at text[*i]; moves *i past its closing quote. A
 * surrogate must come as a high one followed at once by a low one. */
static const char *check_string(const char *text, size_t len, size_t *i, size_t *at)
{
    for ((*i)++; *i < len && text[*i] != '"'; (*i)++) {
        if (text[*i] != '\\')
            continue;
        int unit = utf16_unit(text, len, *i);
        *at = *i;
        if (is_low_surrogate(unit))
            return "lone UTF-16 surrogate";
        if (is_high_surrogate(unit)) {
            if (!is_low_surrogate(utf16_unit(text, len, *i + 6)))
                return "lone UTF-16 surrogate";
            *i += 6; /* past the high half: the low one is checked no more */
        }
        (*i)++; /* past the backslash and (with the loop's step) the escaped byte */
    }
    (*i)++;
    return NULL;
}

const char *qmp_json_lint(const char *text, size_t len, size_t *at)
{
    for (size_t i = 0; i < len;) {
        const char *why = NULL;
        *at = i;
        if (text[i] == '"')
            why = check_string(text, len, &i, at);
        else if (text[i] == '-' || is_digit(text[i]))
            why = check_number(text, len, &i);
        else if (text[i] == 'N' || text[i] == 'I')
            why = "NaN and Infinity are not JSON";
        else
            i++;
        if (why)
            return why;
    }
    return NULL;
}
