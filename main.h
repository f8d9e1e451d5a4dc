/*
 * main.h - the entry point: "demotion-guard SUBCOMMAND ..." handed to the
 * daemon (guard.h), the clients (client.h), check (check.h) or the hooks
 * (hook.h), each of which parses its own options
 */
#ifndef DG_MAIN_H
#define DG_MAIN_H

/* Dispatch the command line; the exit code is the subcommand's (2: usage). */
int main(int argc, char **argv);

#endif
