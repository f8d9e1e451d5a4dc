/*
 * command.h - what the HTTP API asks of the loop (arm, disarm, kill,
 * Patroni callbacks), carried out on the guard's state, and the view the
 * loop publishes for the HTTP threads.  command.c calls nothing in guard.c:
 * it reads and changes struct guard (guard.h) and reports.
 */
#ifndef DG_COMMAND_H
#define DG_COMMAND_H

#include "api.h"
#include "guard.h"

/* Take every pending API command (at most max) for this turn. */
void command_take(struct guard *g, struct command **cmds, int max, int *n);
/* Run arm, disarm and Patroni callbacks: before this turn's observation. */
void command_run_early(struct guard *g, struct command *c);
/* Run kills on the list this turn refreshed, and note the phase in the other answers. */
void command_run_late(struct guard *g, struct command *c);
/* Send a command's answer (after the view that shows its effect is published). */
void command_answer(struct guard *g, struct command *c);
/* Publish this turn's state for the HTTP handlers. */
void command_publish(struct guard *g);

#endif
