/*
 * api.h - the HTTP API's routes (API.md) without the HTTP server: the route
 * table, the checks of a request's head, the command bodies, and what each
 * route answers; http.c carries requests and answers to and from it
 */
#ifndef DG_API_H
#define DG_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "render.h"

#define API_MAX_BODY 8192

enum route_id {
    R_HEALTH,
    R_READY,
    R_METRICS,
    R_STATUS,
    R_WALSENDERS,
    R_ARM,
    R_DISARM,
    R_KILL,
    R_CALLBACK,
    R_NOT_FOUND = -1,
    R_BAD_METHOD = -2
};

/* What a command asks for. */
enum command_type { CMD_ARM, CMD_DISARM, CMD_KILL, CMD_CALLBACK };

struct command {
    enum command_type type;
    char requester[80];   /* "127.0.0.1:53422", "[::1]:53422", "unix" */
    char reason[256];     /* free text from the request, may be "" */
    int64_t deadline_ms;  /* arm: -1 = --deadline */
    enum trigger trigger; /* arm: what its reason counts as (trigger_of) */
    enum kill_selector sel;
    char slot[64];
    int pid;
    bool force;
    char action[32], role[32], scope[128]; /* callback */

    /* the answer, filled by the main loop */
    int status;
    json_t *body;
};

/* A request's head as the server received it (a header NULL: not sent). */
struct api_head {
    const char *method, *url;
    const char *host, *authorization, *content_type, *content_length;
    bool loopback;   /* the listener is a loopback TCP address: Host must name loopback */
    bool authorized; /* no token is needed, or authorization carries it */
};

/* A request whose body has arrived whole. */
struct api_request {
    int route; /* as api_begin found it */
    const char *body;
    size_t len;
    bool too_large;          /* more than API_MAX_BODY bytes were sent */
    const struct view *view; /* the latest published view; NULL: none yet */
    int64_t mono_ms, wall_ms;
};

/* An answer as it goes on the wire. */
struct api_response {
    int status;
    char *text; /* malloc'd, the receiver frees it; NULL: out of memory */
    size_t len;
    const char *type;  /* Content-Type */
    const char *allow; /* an Allow header (405); NULL: none */
};

/* The route of method and url (HEAD is GET; paths match exactly): its id, R_NOT_FOUND,
   or R_BAD_METHOD with *allow set to the methods the path takes. */
int api_route(const char *method, const char *url, const char **allow);
/* Parse the JSON body of a command route into c (an empty body is {}); false with err
   for malformed JSON, a non-object, a wrong type or an unknown field. */
bool api_parse_command(int route, const char *body, size_t len, struct command *c, char *err,
                       size_t errlen) __attribute__((warn_unused_result));
/* Check a request's head (route, method, Host, token, Content-Type, announced length):
   true with *route to read its body, false with the refusal in r. */
bool api_begin(const struct api_head *h, int *route, struct api_response *r);
/* Answer a whole request: true with a POST route's command in c (requester "") for the
   main loop, false with the answer in r (a GET from the view; 413; 400 naming the error). */
bool api_answer(const struct api_request *rq, struct command *c, struct api_response *r);
/* Fill r with a JSON answer, one line and a newline; takes the reference to body.
   A body that is NULL or cannot be rendered becomes a fixed error (500 if not one). */
void api_json(struct api_response *r, int status, json_t *body);
/* Fill r with {"error": code, "detail": detail} (invalid UTF-8 in detail replaced). */
void api_error(struct api_response *r, int status, const char *code, const char *detail,
               const char *allow);

#endif
