/* http_disarm.c - the body of POST /v1/disarm (http_body.h). */
#define FUZZ_ROUTE R_DISARM
#include "http_body.h"
