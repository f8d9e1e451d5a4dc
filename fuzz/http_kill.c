/* http_kill.c - the body of POST /v1/kill (http_body.h). */
#define FUZZ_ROUTE R_KILL
#include "http_body.h"
