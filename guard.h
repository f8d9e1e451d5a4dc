/*
 * guard.h - the daemon: event loop and state machine driver
 */
#ifndef DG_GUARD_H
#define DG_GUARD_H

int guard_run(int argc, char **argv);

#endif
