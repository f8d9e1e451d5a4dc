/* http_arm.c - the body of POST /v1/arm (http_body.h). */
#define FUZZ_ROUTE R_ARM
#include "http_body.h"
