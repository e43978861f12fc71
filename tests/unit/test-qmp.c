/* SPDX-License-Identifier: MIT */
/* QMP sessions without a socket: framing, negotiation, errors, caps. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "ioreq/qmp.h"

struct fake_vm {
    enum qmp_run_state state;
    int stops, conts;
    int cont_error;
};

static enum qmp_run_state fake_state(void *o)
{
    return ((struct fake_vm *)o)->state;
}

static int fake_stop(void *o, GError **why)
{
    struct fake_vm *vm = o;
    vm->stops++;
    vm->state = QMP_PAUSED;
    return 0;
}

static int fake_cont(void *o, GError **why)
{
    struct fake_vm *vm = o;
    vm->conts++;
    if (vm->cont_error)
        return vm->cont_error;
    vm->state = QMP_RUNNING;
    return 0;
}

static void fake_quit(void *o)
{
}

static int fake_dirty(void *o, bool enable, GError **why)
{
    if (enable)
        g_set_error(why, G_FILE_ERROR, G_FILE_ERROR_NOSYS, "no dirty log here");
    return enable ? -EOPNOTSUPP : 0;
}

struct fixture {
    struct fake_vm vm;
    struct qmp_hooks hooks;
    struct qmp_session *s;
};

static void setup(struct fixture *f)
{
    f->vm = (struct fake_vm){ .state = QMP_RUNNING };
    f->hooks = (struct qmp_hooks){ &f->vm, fake_state, fake_stop, fake_cont, fake_quit, fake_dirty };
    f->s = qmp_session_new(1, &f->hooks);
}

/* Everything queued so far, then cleared. */
static char *take(struct fixture *f)
{
    GString *out = qmp_session_output(f->s);
    char *text = g_strndup(out->str, out->len);
    g_string_truncate(out, 0);
    return text;
}

static void feed(struct fixture *f, const char *text)
{
    qmp_session_feed(f->s, text, strlen(text));
}

static void expect(struct fixture *f, const char *in, const char *out)
{
    feed(f, in);
    g_autofree char *got = take(f);
    g_assert_cmpstr(got, ==, out);
}

static void negotiated(struct fixture *f)
{
    setup(f);
    g_free(take(f));
    expect(f, "{\"execute\":\"qmp_capabilities\"}", "{\"return\":{}}\r\n");
}

static void test_greeting_and_negotiation(void)
{
    struct fixture f;
    setup(&f);
    g_autofree char *greeting = take(&f);
    g_assert_true(g_str_has_prefix(greeting, "{\"QMP\":{\"version\":{\"qemu\":{\"major\":7,"));
    g_assert_nonnull(strstr(greeting, "\"capabilities\":[]}}\r\n"));
    expect(&f, "{\"execute\":\"stop\",\"id\":5}",
           "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"Expecting capabilities "
           "negotiation with 'qmp_capabilities'\"},\"id\":5}\r\n");
    g_assert_cmpint(f.vm.stops, ==, 0);
    expect(&f, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}",
           "{\"error\":{\"class\":\"GenericError\",\"desc\":\"Capability 'oob' not available\"}}\r\n");
    expect(&f, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[]}}", "{\"return\":{}}\r\n");
    expect(&f, "{\"execute\":\"qmp_capabilities\"}",
           "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"Capabilities negotiation is "
           "already complete, command ignored\"}}\r\n");
    qmp_session_free(f.s);
}

static void test_commands(void)
{
    struct fixture f;
    negotiated(&f);
    expect(&f, "{\"execute\":\"query-status\"}",
           "{\"return\":{\"running\":true,\"singlestep\":false,\"status\":\"running\"}}\r\n");
    expect(&f, "{\"execute\":\"stop\"}", "{\"return\":{}}\r\n");
    expect(&f, "{\"execute\":\"query-status\"}",
           "{\"return\":{\"running\":false,\"singlestep\":false,\"status\":\"paused\"}}\r\n");
    f.vm.cont_error = -EIO;
    expect(&f, "{\"execute\":\"cont\"}",
           "{\"error\":{\"class\":\"GenericError\",\"desc\":\"cont failed: Input/output error\"}}\r\n");
    expect(&f, "{\"execute\":\"xen-set-global-dirty-log\",\"arguments\":{\"enable\":true}}",
           "{\"error\":{\"class\":\"GenericError\",\"desc\":\"no dirty log here\"}}\r\n");
    expect(&f, "{\"execute\":\"query-vnc\",\"id\":{\"a\":[1]}}",
           "{\"return\":{\"enabled\":false},\"id\":{\"a\":[1]}}\r\n");
    expect(&f, "{\"execute\":\"bogus\"}",
           "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command bogus has not been "
           "found\"}}\r\n");
    g_assert_false(qmp_session_quit_requested(f.s));
    expect(&f, "{\"execute\":\"quit\"} {\"execute\":\"stop\"}", "{\"return\":{}}\r\n");
    g_assert_true(qmp_session_quit_requested(f.s)); /* nothing after quit is run */
    g_assert_cmpint(f.vm.stops, ==, 1);
    qmp_session_free(f.s);
}

static void test_framing(void)
{
    struct fixture f;
    negotiated(&f);
    /* split anywhere, strings with brackets and escaped quotes, junk between */
    const char *msg = "{\"execute\":\"query-vnc\",\"id\":\"}\\\"{[\"}";
    for (size_t i = 0; msg[i]; i++)
        qmp_session_feed(f.s, msg + i, 1);
    g_autofree char *one = take(&f);
    g_assert_cmpstr(one, ==, "{\"return\":{\"enabled\":false},\"id\":\"}\\\"{[\"}\r\n");
    expect(&f, "  \r\n\t", "");
    expect(&f, "null ", "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input must be a "
                        "JSON object\"}}\r\n");
    feed(&f, "]");
    g_autofree char *stray = take(&f);
    g_assert_nonnull(strstr(stray, "JSON parse error"));
    /* past the size cap: one error, and the session goes on */
    GString *big = g_string_new("{\"id\":\"");
    for (int i = 0; i < QMP_MAX_MESSAGE; i++)
        g_string_append_c(big, 'x');
    g_string_append(big, "\"}");
    feed(&f, big->str);
    g_string_free(big, TRUE);
    g_autofree char *too_big = take(&f);
    g_assert_nonnull(strstr(too_big, "message larger than 65536 bytes"));
    GString *deep = g_string_new(NULL);
    for (int i = 0; i < 100; i++)
        g_string_append_c(deep, '[');
    for (int i = 0; i < 100; i++)
        g_string_append_c(deep, ']');
    feed(&f, deep->str);
    g_string_free(deep, TRUE);
    g_autofree char *too_deep = take(&f);
    g_assert_nonnull(strstr(too_deep, "nesting deeper than 32"));
    expect(&f, "{\"execute\":\"query-vnc\"}", "{\"return\":{\"enabled\":false}}\r\n");
    qmp_session_free(f.s);
}

static void test_output_cap(void)
{
    struct fixture f;
    negotiated(&f);
    /* a client that never reads: answers pile up to the cap, then it is dropped */
    for (int i = 0; i < 100000 && qmp_session_alive(f.s); i++)
        feed(&f, "{\"execute\":\"query-commands\"}");
    g_assert_false(qmp_session_alive(f.s));
    g_assert_cmpuint(qmp_session_output(f.s)->len, <=, QMP_MAX_OUTPUT);
    qmp_session_free(f.s);
}

/* The answer to one message fed in two reads split at byte i, for every i. */
static void test_split_at_every_byte(void)
{
    const char *msgs[] = {
        "{\"execute\":\"query-vnc\",\"id\":[-12,3.5e2,\"\xc3\xa9\\u20ac\\\"}\",{\"k\":null}]}",
        "  {\"execute\" : \"xen-set-global-dirty-log\", \"arguments\": {\"enable\": false}}\r\n",
    };
    const char *answers[] = {
        "{\"return\":{\"enabled\":false},\"id\":[-12,3.5e2,\"\xc3\xa9\xe2\x82\xac\\\"}\",{\"k\":null}]}\r\n",
        "{\"return\":{}}\r\n",
    };
    for (size_t m = 0; m < G_N_ELEMENTS(msgs); m++) {
        size_t len = strlen(msgs[m]);
        for (size_t i = 0; i <= len; i++) {
            struct fixture f;
            negotiated(&f);
            qmp_session_feed(f.s, msgs[m], i);
            qmp_session_feed(f.s, msgs[m] + i, len - i);
            g_autofree char *got = take(&f);
            g_assert_cmpstr(got, ==, answers[m]);
            qmp_session_free(f.s);
        }
    }
}

static void test_several_in_one_read(void)
{
    struct fixture f;
    negotiated(&f);
    /* two objects back to back, a scalar ended by the next object, one more */
    expect(&f,
           "{\"execute\":\"query-vnc\",\"id\":1}{\"execute\":\"query-vnc\",\"id\":2}"
           "7{\"execute\":\"stop\",\"id\":3}\n",
           "{\"return\":{\"enabled\":false},\"id\":1}\r\n"
           "{\"return\":{\"enabled\":false},\"id\":2}\r\n"
           "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input must be a JSON object\"}}\r\n"
           "{\"return\":{},\"id\":3}\r\n");
    qmp_session_free(f.s);
}

/* The id a query-vnc answer echoes for id_text, or NULL after an error. */
static char *echoed_id(struct fixture *f, const char *id_text)
{
    g_autofree char *msg = g_strdup_printf("{\"execute\":\"query-vnc\",\"id\":%s}", id_text);
    feed(f, msg);
    g_autofree char *got = take(f);
    const char *prefix = "{\"return\":{\"enabled\":false},\"id\":";
    if (!g_str_has_prefix(got, prefix)) {
        g_assert_nonnull(strstr(got, "JSON parse error"));
        return NULL;
    }
    g_assert_true(g_str_has_suffix(got, "}\r\n"));
    return g_strndup(got + strlen(prefix), strlen(got) - strlen(prefix) - 3);
}

static void expect_id(struct fixture *f, const char *in, const char *out)
{
    g_autofree char *got = echoed_id(f, in);
    g_assert_cmpstr(got, ==, out);
}

static void test_numbers(void)
{
    struct fixture f;
    negotiated(&f);
    /* integers are exact to 64 bits, signed or not */
    expect_id(&f, "9223372036854775807", "9223372036854775807");
    expect_id(&f, "-9223372036854775808", "-9223372036854775808");
    expect_id(&f, "18446744073709551615", "18446744073709551615");
    /* beyond: refused, never clamped into another number */
    expect_id(&f, "18446744073709551616", NULL);
    expect_id(&f, "-9223372036854775809", NULL);
    expect_id(&f, "123456789012345678901234567890", NULL);
    /* fractions come back as they were written */
    expect_id(&f, "0.1", "0.1");
    expect_id(&f, "-1.5E+3", "-1.5E+3");
    /* not JSON, though json-c's strict mode lets them through */
    const char *bad[] = { "1.", "-.5", "00", "-01", "1.e5", "NaN", "Infinity", "-Infinity" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        expect_id(&f, bad[i], NULL);
    expect(&f, "{\"execute\":\"query-vnc\"}", "{\"return\":{\"enabled\":false}}\r\n");
    qmp_session_free(f.s);
}

static void test_strings(void)
{
    struct fixture f;
    negotiated(&f);
    /* UTF-8 round-trips; escapes of non-ASCII come back as UTF-8 */
    expect_id(&f, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    expect_id(&f, "\"\\u00e9\\u20ac\\ud83d\\ude00\"", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    /* an embedded NUL is kept, '/' is not escaped, controls are */
    expect_id(&f, "\"a\\u0000b\"", "\"a\\u0000b\"");
    expect_id(&f, "\"a/b\\/c\"", "\"a/b/c\"");
    expect_id(&f, "\"\\u001f\\t\"", "\"\\u001f\\t\"");
    /* lone surrogates and unknown escapes are errors */
    const char *bad[] = { "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\x41\"", "'a'" };
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        expect_id(&f, bad[i], NULL);
    expect(&f, "{\"execute\":\"stop\\u0000x\"}",
           "{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command stop\\\\u0000x has not "
           "been found\"}}\r\n");
    qmp_session_free(f.s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* bad client input is logged as a warning: expected here */
    g_log_set_always_fatal(G_LOG_FATAL_MASK);
    g_test_add_func("/qmp/greeting-negotiation", test_greeting_and_negotiation);
    g_test_add_func("/qmp/commands", test_commands);
    g_test_add_func("/qmp/framing", test_framing);
    g_test_add_func("/qmp/output-cap", test_output_cap);
    g_test_add_func("/qmp/split-at-every-byte", test_split_at_every_byte);
    g_test_add_func("/qmp/several-in-one-read", test_several_in_one_read);
    g_test_add_func("/qmp/numbers", test_numbers);
    g_test_add_func("/qmp/strings", test_strings);
    return g_test_run();
}
