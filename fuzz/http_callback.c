/* http_callback.c - the body of POST /v1/callback (http_body.h). */
#define FUZZ_ROUTE R_CALLBACK
#include "http_body.h"
