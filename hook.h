/*
 * hook.h - the commands Patroni runs (before-stop, pre-promote, callback)
 */
#ifndef DG_HOOK_H
#define DG_HOOK_H

/* Run "demotion-guard hook NAME ...": argv[0] is NAME.  Returns the exit code. */
int hook_main(int argc, char **argv);

#endif
