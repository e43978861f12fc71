/* SPDX-License-Identifier: MIT */
/*
 * QMP sessions: split the byte stream into JSON messages, check each
 * against the protocol, run the command, queue the answer. The socket side
 * is qmp-monitor.c.
 *
 * JSON is json-c's: small, and without gobject/gio behind it (json-glib
 * cost every ioreqd process about 2 MB of RSS). Our own splitter finds the
 * message boundaries (so size and depth caps hold before any parsing, and a
 * bad message never desynchronises the stream); json-c's tokener then
 * parses each complete message in one call.
 */
#include "ioreq/qmp.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "config.h"
#include "ioreq/log.h"
#include "ioreq/qmp-json.h"

#define DEV "qmp"

/* Where the splitter is in the byte stream. */
struct qmp_splitter {
    GString *buf;        /* the message so far (up to QMP_MAX_MESSAGE) */
    unsigned int depth;  /* open { and [ */
    bool in_string, escaped;
    bool scalar;         /* a top-level value that is not an object/array */
    bool too_big, too_deep;
};

struct qmp_session {
    uint32_t domid;
    const struct qmp_hooks *hooks;
    struct qmp_splitter split;
    struct json_tokener *tok; /* parses one complete message at a time */
    GString *out;
    bool negotiated;
    bool dropped, quit;
    struct ratelimit bad_input_log;
};

/* ------------------------------------------------------------- answers */

/* Compact, one line, '/' left alone: what QEMU (and json-glib before) sent. */
#define OUTPUT_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Queue one JSON value as a line ending in \r\n; takes the reference. */
static void queue_value(struct qmp_session *s, struct json_object *value)
{
    size_t len;
    const char *text = json_object_to_json_string_length(value, OUTPUT_FLAGS, &len);

    if (s->out->len + len + 2 > QMP_MAX_OUTPUT) {
        /* a client that never reads must not make us hold its answers forever */
        if (!s->dropped)
            log_limited(&s->bad_input_log, s->domid, DEV,
                        "client does not read its answers (%zu bytes queued): dropping it",
                        s->out->len);
        s->dropped = true;
    } else {
        g_string_append_len(s->out, text, (gssize)len);
        g_string_append(s->out, "\r\n");
    }
    json_object_put(value);
}

/* {member: value} plus the request's "id" when it had one (even a null
 * one, which json-c holds as a NULL value: hence the lookup, not a
 * pointer test). request may be NULL (unparseable input); takes value. */
static void answer(struct qmp_session *s, struct json_object *request, const char *member,
                   struct json_object *value)
{
    struct json_object *reply = json_object_new_object();
    struct json_object *id;

    json_object_object_add(reply, member, value);
    if (request && json_object_object_get_ex(request, "id", &id))
        json_object_object_add(reply, "id", json_object_get(id));
    queue_value(s, reply);
}

static void answer_error(struct qmp_session *s, struct json_object *request, const char *cls,
                         const char *desc)
{
    struct json_object *err = json_object_new_object();

    json_object_object_add(err, "class", json_object_new_string(cls));
    json_object_object_add(err, "desc", json_object_new_string(desc));
    answer(s, request, "error", err);
}

static void answer_object(struct qmp_session *s, struct json_object *request,
                          struct json_object *obj)
{
    answer(s, request, "return", obj);
}

static void answer_empty(struct qmp_session *s, struct json_object *request)
{
    answer_object(s, request, json_object_new_object());
}

static void add_int(struct json_object *o, const char *name, int64_t v)
{
    json_object_object_add(o, name, json_object_new_int64(v));
}

static void add_string(struct json_object *o, const char *name, const char *v)
{
    json_object_object_add(o, name, json_object_new_string(v));
}

static void add_bool(struct json_object *o, const char *name, bool v)
{
    json_object_object_add(o, name, json_object_new_boolean(v));
}

/* {"qemu": {"major", "minor", "micro"}, "package"}: the greeting's and
 * query-version's. */
static struct json_object *version_object(void)
{
    struct json_object *qemu = json_object_new_object();
    add_int(qemu, "major", QMP_QEMU_MAJOR);
    add_int(qemu, "minor", QMP_QEMU_MINOR);
    add_int(qemu, "micro", QMP_QEMU_MICRO);
    struct json_object *version = json_object_new_object();
    json_object_object_add(version, "qemu", qemu);
    add_string(version, "package", "ioreqd " IOREQD_VERSION);
    return version;
}

static void send_greeting(struct qmp_session *s)
{
    struct json_object *qmp = json_object_new_object();
    json_object_object_add(qmp, "version", version_object());
    json_object_object_add(qmp, "capabilities", json_object_new_array()); /* no oob */
    struct json_object *greeting = json_object_new_object();
    json_object_object_add(greeting, "QMP", qmp);
    queue_value(s, greeting);
}

void qmp_session_event(struct qmp_session *s, const char *event)
{
    if (!s->negotiated)
        return;
    gint64 now = g_get_real_time();
    struct json_object *ts = json_object_new_object();
    add_int(ts, "seconds", now / G_USEC_PER_SEC);
    add_int(ts, "microseconds", now % G_USEC_PER_SEC);
    struct json_object *ev = json_object_new_object();
    add_string(ev, "event", event);
    json_object_object_add(ev, "data", json_object_new_object());
    json_object_object_add(ev, "timestamp", ts);
    queue_value(s, ev);
}

/* ------------------------------------------------------------ commands */

enum arg_type { ARG_BOOL, ARG_STRING, ARG_ARRAY };

struct arg_spec {
    const char *name;
    enum arg_type type;
    bool required;
};

struct command {
    const char *name;
    void (*run)(struct qmp_session *s, struct json_object *args, struct json_object *request);
    struct arg_spec args[2];
};

static const char *const type_names[] = { "boolean", "string", "array" };

/* v is NULL for a JSON null: json_object_is_type() says no for it. */
static bool arg_has_type(struct json_object *v, enum arg_type t)
{
    static const enum json_type json_types[] = { json_type_boolean, json_type_string,
                                                 json_type_array };
    return json_object_is_type(v, json_types[t]);
}

/* A string member's text without an embedded NUL, else NULL (a C string
 * cut at a NUL would name something the client did not send). */
static const char *plain_string(struct json_object *v)
{
    if (!arg_has_type(v, ARG_STRING))
        return NULL;
    const char *text = json_object_get_string(v);
    return strlen(text) == (size_t)json_object_get_string_len(v) ? text : NULL;
}

static bool is_arg_of(const struct command *c, const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(c->args) && c->args[i].name; i++)
        if (!strcmp(name, c->args[i].name))
            return true;
    return false;
}

/* QEMU's checks, in its words: unexpected, missing, wrong type. */
static bool check_args(struct qmp_session *s, const struct command *c, struct json_object *args,
                       struct json_object *request)
{
    struct json_object_iterator it = json_object_iter_begin(args);
    struct json_object_iterator end = json_object_iter_end(args);

    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        const char *name = json_object_iter_peek_name(&it);
        if (!is_arg_of(c, name)) {
            g_autofree char *msg = g_strdup_printf("Parameter '%s' is unexpected", name);
            answer_error(s, request, "GenericError", msg);
            return false;
        }
    }
    for (size_t i = 0; i < G_N_ELEMENTS(c->args) && c->args[i].name; i++) {
        const struct arg_spec *a = &c->args[i];
        struct json_object *v;
        bool present = json_object_object_get_ex(args, a->name, &v);
        g_autofree char *msg = NULL;
        if (!present && a->required)
            msg = g_strdup_printf("Parameter '%s' is missing", a->name);
        else if (present && !arg_has_type(v, a->type))
            msg = g_strdup_printf("Invalid parameter type for '%s', expected: %s", a->name,
                                  type_names[a->type]);
        if (msg) {
            answer_error(s, request, "GenericError", msg);
            return false;
        }
    }
    return true;
}

static void cmd_capabilities(struct qmp_session *s, struct json_object *args,
                             struct json_object *request)
{
    struct json_object *enable = json_object_object_get(args, "enable");

    /* we offer no capability (no out-of-band execution): any asked for is refused */
    if (enable && json_object_array_length(enable) > 0) {
        const char *name = plain_string(json_object_array_get_idx(enable, 0));
        g_autofree char *msg = g_strdup_printf("Capability '%s' not available", name ? name : "?");
        answer_error(s, request, "GenericError", msg);
        return;
    }
    s->negotiated = true;
    answer_empty(s, request);
}

static const char *const run_state_names[] = { "prelaunch", "running", "paused" };

static void cmd_query_status(struct qmp_session *s, struct json_object *args,
                             struct json_object *request)
{
    enum qmp_run_state st = s->hooks->run_state(s->hooks->opaque);
    struct json_object *o = json_object_new_object();

    add_bool(o, "running", st == QMP_RUNNING);
    add_bool(o, "singlestep", false);
    add_string(o, "status", run_state_names[st]);
    answer_object(s, request, o);
}

static void answer_hook(struct qmp_session *s, struct json_object *request, int rc, GError *why,
                        const char *what)
{
    if (rc == 0) {
        answer_empty(s, request);
        return;
    }
    g_autofree char *msg = why ? g_strdup(why->message)
                               : g_strdup_printf("%s failed: %s", what, g_strerror(-rc));
    answer_error(s, request, "GenericError", msg);
}

static void cmd_stop(struct qmp_session *s, struct json_object *args, struct json_object *request)
{
    g_autoptr(GError) why = NULL;
    int rc = s->hooks->stop(s->hooks->opaque, &why); /* before reading why */
    answer_hook(s, request, rc, why, "stop");
}

static void cmd_cont(struct qmp_session *s, struct json_object *args, struct json_object *request)
{
    g_autoptr(GError) why = NULL;
    int rc = s->hooks->cont(s->hooks->opaque, &why);
    answer_hook(s, request, rc, why, "cont");
}

static void cmd_dirty_log(struct qmp_session *s, struct json_object *args,
                          struct json_object *request)
{
    g_autoptr(GError) why = NULL;
    bool enable = json_object_get_boolean(json_object_object_get(args, "enable"));
    int rc = s->hooks->set_dirty_log(s->hooks->opaque, enable, &why);
    answer_hook(s, request, rc, why, "xen-set-global-dirty-log");
}

static void cmd_quit(struct qmp_session *s, struct json_object *args, struct json_object *request)
{
    answer_empty(s, request);
    s->quit = true; /* the monitor calls hooks->quit once this answer is written */
}

static void cmd_query_version(struct qmp_session *s, struct json_object *args,
                              struct json_object *request)
{
    answer_object(s, request, version_object());
}

static void cmd_query_vnc(struct qmp_session *s, struct json_object *args,
                          struct json_object *request)
{
    struct json_object *o = json_object_new_object();
    add_bool(o, "enabled", false); /* there is no VNC server yet */
    answer_object(s, request, o);
}

static void cmd_save_state(struct qmp_session *s, struct json_object *args,
                           struct json_object *request)
{
    answer_error(s, request, "GenericError",
                 "xen-save-devices-state is not supported: ioreqd cannot save device state "
                 "yet (no save, restore or migration)");
}

static void cmd_load_state(struct qmp_session *s, struct json_object *args,
                           struct json_object *request)
{
    answer_error(s, request, "GenericError",
                 "xen-load-devices-state is not supported: ioreqd cannot restore device state "
                 "yet (no save, restore or migration)");
}

static void cmd_query_commands(struct qmp_session *s, struct json_object *args,
                               struct json_object *request);

static const struct command commands[] = {
    { "qmp_capabilities", cmd_capabilities, { { "enable", ARG_ARRAY, false } } },
    { "query-status", cmd_query_status, { { NULL } } },
    { "query-version", cmd_query_version, { { NULL } } },
    { "query-commands", cmd_query_commands, { { NULL } } },
    { "query-vnc", cmd_query_vnc, { { NULL } } },
    { "stop", cmd_stop, { { NULL } } },
    { "cont", cmd_cont, { { NULL } } },
    { "quit", cmd_quit, { { NULL } } },
    { "xen-set-global-dirty-log", cmd_dirty_log, { { "enable", ARG_BOOL, true } } },
    { "xen-save-devices-state", cmd_save_state,
      { { "filename", ARG_STRING, true }, { "live", ARG_BOOL, false } } },
    { "xen-load-devices-state", cmd_load_state, { { "filename", ARG_STRING, true } } },
};

static void cmd_query_commands(struct qmp_session *s, struct json_object *args,
                               struct json_object *request)
{
    struct json_object *list = json_object_new_array();

    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        struct json_object *o = json_object_new_object();
        add_string(o, "name", commands[i].name);
        json_object_array_add(list, o);
    }
    answer(s, request, "return", list);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; name && i < G_N_ELEMENTS(commands); i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

/* ------------------------------------------------------------ messages */

static bool is_envelope_member(const char *m)
{
    return !strcmp(m, "execute") || !strcmp(m, "arguments") || !strcmp(m, "id");
}

/* The envelope: an object with "execute" (a string), optional "arguments"
 * (an object) and "id" (anything, echoed), nothing else. NULL when it is
 * right, else the error's desc (the caller frees it). */
static char *check_envelope(struct json_object *msg)
{
    struct json_object_iterator it = json_object_iter_begin(msg);
    struct json_object_iterator end = json_object_iter_end(msg);
    struct json_object *v;

    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        const char *m = json_object_iter_peek_name(&it);
        if (!is_envelope_member(m))
            return g_strdup_printf("QMP input member '%s' is unexpected", m);
    }
    if (!json_object_object_get_ex(msg, "execute", &v))
        return g_strdup("QMP input lacks member 'execute'");
    if (!arg_has_type(v, ARG_STRING))
        return g_strdup("QMP input member 'execute' must be a string");
    if (json_object_object_get_ex(msg, "arguments", &v) && !json_object_is_type(v, json_type_object))
        return g_strdup("QMP input member 'arguments' must be an object");
    return NULL;
}

/* A string for a message: an embedded NUL shows as \u0000 instead of
 * silently ending it there. */
static char *display_name(struct json_object *name)
{
    const char *text = json_object_get_string(name);
    int len = json_object_get_string_len(name);
    GString *shown = g_string_sized_new((gsize)len);

    for (int i = 0; i < len; i++) {
        if (text[i])
            g_string_append_c(shown, text[i]);
        else
            g_string_append(shown, "\\u0000");
    }
    return g_string_free(shown, FALSE);
}

static void run_command(struct qmp_session *s, struct json_object *msg)
{
    struct json_object *name = json_object_object_get(msg, "execute");
    const struct command *c = find_command(plain_string(name));
    struct json_object *given = json_object_object_get(msg, "arguments");
    struct json_object *args = given ? json_object_get(given) : json_object_new_object();

    if (!s->negotiated && (!c || c->run != cmd_capabilities)) {
        answer_error(s, msg, "CommandNotFound",
                     "Expecting capabilities negotiation with 'qmp_capabilities'");
    } else if (!c) {
        g_autofree char *shown = display_name(name);
        g_autofree char *text = g_strdup_printf("The command %s has not been found", shown);
        answer_error(s, msg, "CommandNotFound", text);
    } else if (s->negotiated && c->run == cmd_capabilities) {
        answer_error(s, msg, "CommandNotFound",
                     "Capabilities negotiation is already complete, command ignored");
    } else if (check_args(s, c, args, msg)) {
        c->run(s, args, msg);
    }
    json_object_put(args);
}

static void parse_error(struct qmp_session *s, const char *why)
{
    g_autofree char *desc = g_strdup_printf("JSON parse error, %s", why);

    log_limited(&s->bad_input_log, s->domid, DEV, "bad input from a client: %s", why);
    answer_error(s, NULL, "GenericError", desc);
}

/* "LINE:COLUMN: " of byte offset in text, 1-based, as json-glib began
 * its messages: a client's log then points at the byte. */
static char *position(const char *text, size_t offset)
{
    unsigned int line = 1, column = 1;

    for (size_t i = 0; i < offset; i++) {
        column = text[i] == '\n' ? 1 : column + 1;
        line += text[i] == '\n';
    }
    return g_strdup_printf("%u:%u", line, column);
}

/* Parse one complete message; NULL with *why set when it is not JSON.
 * A JSON null parses to NULL too, with *why left NULL. */
static struct json_object *parse_message(struct qmp_session *s, const char *text, size_t len,
                                         char **why)
{
    json_tokener_reset(s->tok);
    /* len + 1: the terminating NUL tells the tokener the input ends here,
     * so a bare number is complete instead of "to be continued" */
    struct json_object *root = json_tokener_parse_ex(s->tok, text, (int)len + 1);
    enum json_tokener_error err = json_tokener_get_error(s->tok);
    size_t end = json_tokener_get_parse_end(s->tok);

    *why = NULL;
    if (err == json_tokener_success && end < len) {
        /* the splitter hands over one value; more after it is junk */
        json_object_put(root);
        g_autofree char *at = position(text, end);
        *why = g_strdup_printf("%s: unexpected data after the value", at);
        return NULL;
    }
    if (err != json_tokener_success) {
        g_autofree char *at = position(text, MIN(end, len));
        *why = g_strdup_printf("%s: %s", at, json_tokener_error_desc(err));
        return NULL;
    }
    const char *not_json = qmp_json_lint(text, len, &end);
    if (not_json) {
        json_object_put(root);
        g_autofree char *at = position(text, end);
        *why = g_strdup_printf("%s: %s", at, not_json);
        return NULL;
    }
    return root;
}

/* One complete message from the splitter. */
static void handle_message(struct qmp_session *s, const char *text, size_t len)
{
    if (!g_utf8_validate_len(text, len, NULL)) {
        parse_error(s, "invalid UTF-8 or a NUL byte");
        return;
    }
    g_autofree char *why = NULL;
    struct json_object *msg = parse_message(s, text, len, &why);
    if (why) {
        parse_error(s, why);
        return;
    }
    if (!json_object_is_type(msg, json_type_object)) {
        answer_error(s, NULL, "GenericError", "QMP input must be a JSON object");
    } else {
        g_autofree char *bad = check_envelope(msg);
        if (bad)
            answer_error(s, msg, "GenericError", bad);
        else
            run_command(s, msg);
    }
    json_object_put(msg);
}

/* ------------------------------------------------------------ splitter */

static void splitter_reset(struct qmp_splitter *sp)
{
    g_string_truncate(sp->buf, 0);
    sp->depth = 0;
    sp->in_string = sp->escaped = sp->scalar = false;
    sp->too_big = sp->too_deep = false;
}

static void message_done(struct qmp_session *s)
{
    struct qmp_splitter *sp = &s->split;

    if (sp->too_big || sp->too_deep) {
        g_autofree char *why = sp->too_big
            ? g_strdup_printf("message larger than %d bytes", QMP_MAX_MESSAGE)
            : g_strdup_printf("nesting deeper than %d", QMP_MAX_DEPTH);
        parse_error(s, why);
    } else {
        handle_message(s, sp->buf->str, sp->buf->len);
    }
    splitter_reset(sp);
}

static void keep_byte(struct qmp_splitter *sp, char c)
{
    if (sp->buf->len >= QMP_MAX_MESSAGE)
        sp->too_big = true; /* go on tracking the structure, keep nothing */
    else
        g_string_append_c(sp->buf, c);
}

/* Inside a string: only a closing quote (not escaped) matters. */
static void string_byte(struct qmp_splitter *sp, char c)
{
    if (sp->escaped)
        sp->escaped = false;
    else if (c == '\\')
        sp->escaped = true;
    else if (c == '"')
        sp->in_string = false;
}

/* A byte of an object or array: track strings and nesting; true at its end. */
static bool container_byte(struct qmp_splitter *sp, char c)
{
    keep_byte(sp, c);
    if (sp->in_string) {
        string_byte(sp, c);
        return false;
    }
    if (c == '"') {
        sp->in_string = true;
    } else if (c == '{' || c == '[') {
        if (++sp->depth > QMP_MAX_DEPTH)
            sp->too_deep = true;
    } else if (c == '}' || c == ']') {
        return --sp->depth == 0;
    }
    return false;
}

static bool is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A top-level value that is not a container (a number, a word, a string)
 * ends at white space or where a container starts; true at its end. */
static bool scalar_byte(struct qmp_splitter *sp, char c)
{
    if (sp->in_string) {
        keep_byte(sp, c);
        string_byte(sp, c);
        return !sp->in_string;
    }
    if (is_json_space(c) || c == '{' || c == '[')
        return true;
    keep_byte(sp, c);
    if (c == '"')
        sp->in_string = true;
    return false;
}

static void feed_byte(struct qmp_session *s, char c)
{
    struct qmp_splitter *sp = &s->split;

    if (sp->scalar) {
        if (!scalar_byte(sp, c))
            return;
        message_done(s);
        if (c != '{' && c != '[')
            return;
        /* that byte opens the next message */
    } else if (sp->depth) {
        if (container_byte(sp, c))
            message_done(s);
        return;
    }
    if (is_json_space(c))
        return;
    if (c == '{' || c == '[') {
        container_byte(sp, c);
        return;
    }
    sp->scalar = true;
    if (scalar_byte(sp, c) || c == '}' || c == ']')
        message_done(s); /* a stray closing bracket is a message of its own */
}

void qmp_session_feed(struct qmp_session *s, const char *buf, size_t len)
{
    for (size_t i = 0; i < len && !s->dropped && !s->quit; i++)
        feed_byte(s, buf[i]);
}

/* ------------------------------------------------------------- session */

struct qmp_session *qmp_session_new(uint32_t domid, const struct qmp_hooks *hooks)
{
    struct qmp_session *s = g_new0(struct qmp_session, 1);

    s->domid = domid;
    s->hooks = hooks;
    s->split.buf = g_string_sized_new(256);
    /* one more level than the splitter allows: its cap, with its message,
     * is the one a client meets */
    s->tok = json_tokener_new_ex(QMP_MAX_DEPTH + 1);
    /* strict: RFC 8259 and nothing more (no single quotes, comments,
     * trailing commas, NaN); UTF-8 was checked before */
    json_tokener_set_flags(s->tok, JSON_TOKENER_STRICT);
    s->out = g_string_sized_new(1024);
    s->bad_input_log = (struct ratelimit)RATELIMIT_INIT;
    send_greeting(s);
    return s;
}

void qmp_session_free(struct qmp_session *s)
{
    if (!s)
        return;
    g_string_free(s->split.buf, TRUE);
    json_tokener_free(s->tok);
    g_string_free(s->out, TRUE);
    g_free(s);
}

GString *qmp_session_output(struct qmp_session *s)
{
    return s->out;
}

bool qmp_session_alive(const struct qmp_session *s)
{
    return !s->dropped;
}

bool qmp_session_quit_requested(const struct qmp_session *s)
{
    return s->quit;
}
