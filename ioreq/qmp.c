/* SPDX-License-Identifier: MIT */
/*
 * QMP sessions: split the byte stream into JSON messages, check each
 * against the protocol, run the command, queue the answer. The socket side
 * is qmp-monitor.c.
 */
#include "ioreq/qmp.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "config.h"
#include "ioreq/log.h"

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
    GString *out;
    bool negotiated;
    bool dropped, quit;
    struct ratelimit bad_input_log;
};

/* ------------------------------------------------------------- answers */

static void queue_node(struct qmp_session *s, JsonNode *node)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    gsize len;

    json_generator_set_root(gen, node);
    g_autofree char *text = json_generator_to_data(gen, &len);
    if (s->out->len + len + 2 > QMP_MAX_OUTPUT) {
        /* a client that never reads must not make us hold its answers forever */
        if (!s->dropped)
            log_limited(&s->bad_input_log, s->domid, DEV,
                        "client does not read its answers (%zu bytes queued): dropping it",
                        s->out->len);
        s->dropped = true;
        return;
    }
    g_string_append_len(s->out, text, (gssize)len);
    g_string_append(s->out, "\r\n");
}

static void answer(struct qmp_session *s, JsonNode *id, const char *member, JsonNode *value)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, member);
    json_builder_add_value(b, value);
    if (id) {
        json_builder_set_member_name(b, "id");
        json_builder_add_value(b, json_node_copy(id));
    }
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    queue_node(s, root);
}

static void answer_error(struct qmp_session *s, JsonNode *id, const char *cls, const char *desc)
{
    JsonObject *err = json_object_new();

    json_object_set_string_member(err, "class", cls);
    json_object_set_string_member(err, "desc", desc);
    JsonNode *node = json_node_init_object(json_node_alloc(), err);
    json_object_unref(err);
    answer(s, id, "error", node);
}

static void answer_object(struct qmp_session *s, JsonNode *id, JsonObject *obj)
{
    JsonNode *node = json_node_init_object(json_node_alloc(), obj);

    json_object_unref(obj);
    answer(s, id, "return", node);
}

static void answer_empty(struct qmp_session *s, JsonNode *id)
{
    answer_object(s, id, json_object_new());
}

static void send_greeting(struct qmp_session *s)
{
    JsonObject *qemu = json_object_new();
    json_object_set_int_member(qemu, "major", QMP_QEMU_MAJOR);
    json_object_set_int_member(qemu, "minor", QMP_QEMU_MINOR);
    json_object_set_int_member(qemu, "micro", QMP_QEMU_MICRO);
    JsonObject *version = json_object_new();
    json_object_set_object_member(version, "qemu", qemu);
    json_object_set_string_member(version, "package", "ioreqd " IOREQD_VERSION);
    JsonObject *qmp = json_object_new();
    json_object_set_object_member(qmp, "version", version);
    json_object_set_array_member(qmp, "capabilities", json_array_new()); /* no oob */
    JsonObject *greeting = json_object_new();
    json_object_set_object_member(greeting, "QMP", qmp);
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), greeting);
    json_object_unref(greeting);
    queue_node(s, node);
}

void qmp_session_event(struct qmp_session *s, const char *event)
{
    gint64 now = g_get_real_time();
    JsonObject *ts = json_object_new();
    json_object_set_int_member(ts, "seconds", now / G_USEC_PER_SEC);
    json_object_set_int_member(ts, "microseconds", now % G_USEC_PER_SEC);
    JsonObject *ev = json_object_new();
    json_object_set_string_member(ev, "event", event);
    json_object_set_object_member(ev, "data", json_object_new());
    json_object_set_object_member(ev, "timestamp", ts);
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), ev);
    json_object_unref(ev);
    if (s->negotiated)
        queue_node(s, node);
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
    void (*run)(struct qmp_session *s, JsonObject *args, JsonNode *id);
    struct arg_spec args[2];
};

static const char *const type_names[] = { "boolean", "string", "array" };

static bool arg_has_type(JsonNode *n, enum arg_type t)
{
    switch (t) {
    case ARG_BOOL:
        return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_BOOLEAN;
    case ARG_STRING:
        return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;
    case ARG_ARRAY:
        return JSON_NODE_HOLDS_ARRAY(n);
    }
    return false;
}

/* QEMU's checks, in its words: unexpected, missing, wrong type. */
static bool check_args(struct qmp_session *s, const struct command *c, JsonObject *args,
                       JsonNode *id)
{
    g_autoptr(GList) names = json_object_get_members(args);

    for (GList *l = names; l; l = l->next) {
        bool known = false;
        for (size_t i = 0; i < G_N_ELEMENTS(c->args) && c->args[i].name; i++)
            known |= !strcmp(l->data, c->args[i].name);
        if (!known) {
            g_autofree char *msg = g_strdup_printf("Parameter '%s' is unexpected", (char *)l->data);
            answer_error(s, id, "GenericError", msg);
            return false;
        }
    }
    for (size_t i = 0; i < G_N_ELEMENTS(c->args) && c->args[i].name; i++) {
        const struct arg_spec *a = &c->args[i];
        JsonNode *n = json_object_get_member(args, a->name);
        g_autofree char *msg = NULL;
        if (!n && a->required)
            msg = g_strdup_printf("Parameter '%s' is missing", a->name);
        else if (n && !arg_has_type(n, a->type))
            msg = g_strdup_printf("Invalid parameter type for '%s', expected: %s", a->name,
                                  type_names[a->type]);
        if (msg) {
            answer_error(s, id, "GenericError", msg);
            return false;
        }
    }
    return true;
}

static void cmd_capabilities(struct qmp_session *s, JsonObject *args, JsonNode *id)
{
    JsonArray *enable = json_object_has_member(args, "enable")
                            ? json_object_get_array_member(args, "enable") : NULL;

    /* we offer no capability (no out-of-band execution): any asked for is refused */
    for (guint i = 0; enable && i < json_array_get_length(enable); i++) {
        JsonNode *n = json_array_get_element(enable, i);
        const char *name = arg_has_type(n, ARG_STRING) ? json_node_get_string(n) : "?";
        g_autofree char *msg = g_strdup_printf("Capability '%s' not available", name);
        answer_error(s, id, "GenericError", msg);
        return;
    }
    s->negotiated = true;
    answer_empty(s, id);
}

static const char *const run_state_names[] = { "prelaunch", "running", "paused" };

static void cmd_query_status(struct qmp_session *s, JsonObject *args, JsonNode *id)
{
    enum qmp_run_state st = s->hooks->run_state(s->hooks->opaque);
    JsonObject *o = json_object_new();

    json_object_set_boolean_member(o, "running", st == QMP_RUNNING);
    json_object_set_boolean_member(o, "singlestep", false);
    json_object_set_string_member(o, "status", run_state_names[st]);
    answer_object(s, id, o);
}

static void answer_hook(struct qmp_session *s, JsonNode *id, int rc, GError *why,
                        const char *what)
{
    if (rc == 0) {
        answer_empty(s, id);
        return;
    }
    g_autofree char *msg = why ? g_strdup(why->message)
                               : g_strdup_printf("%s failed: %s", what, g_strerror(-rc));
    answer_error(s, id, "GenericError", msg);
}

static void cmd_stop(struct qmp_session *s, JsonObject *args, JsonNode *id)
{
    g_autoptr(GError) why = NULL;
    int rc = s->hooks->stop(s->hooks->opaque, &why); /* before reading why */
    answer_hook(s, id, rc, why, "stop");
}

static void cmd_cont(struct qmp_session *s, JsonObject *args, JsonNode *id)
{
    g_autoptr(GError) why = NULL;
    int rc = s->hooks->cont(s->hooks->opaque, &why);
    answer_hook(s, id, rc, why, "cont");
}

static void cmd_dirty_log(struct qmp_session *s, JsonObject *args, JsonNode *id)
{
    g_autoptr(GError) why = NULL;
    bool enable = json_object_get_boolean_member(args, "enable");
    int rc = s->hooks->set_dirty_log(s->hooks->opaque, enable, &why);
    answer_hook(s, id, rc, why, "xen-set-global-dirty-log");
}

static void cmd_quit(struct qmp_session *s, JsonObject *args, JsonNode *id)
{
    answer_empty(s, id);
    s->quit = true; /* the monitor calls hooks->quit once this answer is written */
}

static void cmd_query_version(struct qmp_session *s, JsonObject *args, JsonNode *id)
{
    JsonObject *qemu = json_object_new();
    json_object_set_int_member(qemu, "major", QMP_QEMU_MAJOR);
    json_object_set_int_member(qemu, "minor", QMP_QEMU_MINOR);
    json_object_set_int_member(qemu, "micro", QMP_QEMU_MICRO);
    JsonObject *o = json_object_new();
    json_object_set_object_member(o, "qemu", qemu);
    json_object_set_string_member(o, "package", "ioreqd " IOREQD_VERSION);
    answer_object(s, id, o);
}

static void cmd_query_vnc(struct qmp_session *s, JsonObject *args, JsonNode *id)
{
    JsonObject *o = json_object_new();
    json_object_set_boolean_member(o, "enabled", false); /* there is no VNC server yet */
    answer_object(s, id, o);
}

static void cmd_save_state(struct qmp_session *s, JsonObject *args, JsonNode *id)
{
    answer_error(s, id, "GenericError",
                 "xen-save-devices-state is not supported: ioreqd cannot save device state "
                 "yet (no save, restore or migration)");
}

static void cmd_load_state(struct qmp_session *s, JsonObject *args, JsonNode *id)
{
    answer_error(s, id, "GenericError",
                 "xen-load-devices-state is not supported: ioreqd cannot restore device state "
                 "yet (no save, restore or migration)");
}

static void cmd_query_commands(struct qmp_session *s, JsonObject *args, JsonNode *id);

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

static void cmd_query_commands(struct qmp_session *s, JsonObject *args, JsonNode *id)
{
    JsonArray *list = json_array_new();

    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++) {
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "name", commands[i].name);
        json_array_add_object_element(list, o);
    }
    answer(s, id, "return", json_node_init_array(json_node_alloc(), list));
    json_array_unref(list);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

/* ------------------------------------------------------------ messages */

/* The envelope: an object with "execute" (a string), optional "arguments"
 * (an object) and "id" (anything, echoed), nothing else. NULL when it is
 * right, else the error's desc (the caller frees it). */
static char *check_envelope(JsonObject *msg)
{
    g_autoptr(GList) names = json_object_get_members(msg);

    for (GList *l = names; l; l = l->next) {
        const char *m = l->data;
        if (strcmp(m, "execute") && strcmp(m, "arguments") && strcmp(m, "id"))
            return g_strdup_printf("QMP input member '%s' is unexpected", m);
    }
    JsonNode *ex = json_object_get_member(msg, "execute");
    if (!ex)
        return g_strdup("QMP input lacks member 'execute'");
    if (!arg_has_type(ex, ARG_STRING))
        return g_strdup("QMP input member 'execute' must be a string");
    JsonNode *args = json_object_get_member(msg, "arguments");
    if (args && !JSON_NODE_HOLDS_OBJECT(args))
        return g_strdup("QMP input member 'arguments' must be an object");
    return NULL;
}

static void run_command(struct qmp_session *s, JsonObject *msg, JsonNode *id)
{
    const char *name = json_object_get_string_member(msg, "execute");
    const struct command *c = find_command(name);
    JsonNode *argn = json_object_get_member(msg, "arguments");
    g_autoptr(JsonObject) args = argn ? json_object_ref(json_node_get_object(argn))
                                      : json_object_new();

    if (!s->negotiated && (!c || c->run != cmd_capabilities)) {
        answer_error(s, id, "CommandNotFound",
                     "Expecting capabilities negotiation with 'qmp_capabilities'");
        return;
    }
    if (!c) {
        g_autofree char *msg_text = g_strdup_printf("The command %s has not been found", name);
        answer_error(s, id, "CommandNotFound", msg_text);
        return;
    }
    if (s->negotiated && c->run == cmd_capabilities) {
        answer_error(s, id, "CommandNotFound",
                     "Capabilities negotiation is already complete, command ignored");
        return;
    }
    if (check_args(s, c, args, id))
        c->run(s, args, id);
}

static void parse_error(struct qmp_session *s, const char *why)
{
    g_autofree char *desc = g_strdup_printf("JSON parse error, %s", why);

    log_limited(&s->bad_input_log, s->domid, DEV, "bad input from a client: %s", why);
    answer_error(s, NULL, "GenericError", desc);
}

/* One complete message from the splitter. */
static void handle_message(struct qmp_session *s, const char *text, size_t len)
{
    if (!g_utf8_validate_len(text, len, NULL)) {
        parse_error(s, "invalid UTF-8 or a NUL byte");
        return;
    }
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) err = NULL;
    if (!json_parser_load_from_data(parser, text, (gssize)len, &err)) {
        const char *why = err->message;
        parse_error(s, g_str_has_prefix(why, "<data>:") ? why + 7 : why); /* json-glib's name */
        return;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        answer_error(s, NULL, "GenericError", "QMP input must be a JSON object");
        return;
    }
    JsonObject *msg = json_node_get_object(root);
    JsonNode *id = json_object_get_member(msg, "id");
    g_autofree char *bad = check_envelope(msg);
    if (bad)
        answer_error(s, id, "GenericError", bad);
    else
        run_command(s, msg, id);
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
