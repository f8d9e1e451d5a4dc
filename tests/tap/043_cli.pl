# The top-level command line (main.c), no server needed: each subcommand
# and --help / --version reach the right place, and a missing or unknown
# command is a usage error (exit 2) that says what to try.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

# Run the binary with @args; (exit code, stdout, stderr).
sub dg
{
	my @args = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $ENV{DG_BIN}, @args ], '<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout(30));
	return (($? & 127) ? 128 + ($? & 127) : $? >> 8, $out, $err);    # a signal: 128 + it
}

my ($rc, $out, $err) = dg();
is($rc, 2, 'no command: exit 2');
like($err, qr/^usage:/m, 'no command: the usage goes to stderr');
is($out, '', 'no command: nothing on stdout');

for my $help ('--help', 'help')
{
	($rc, $out, $err) = dg($help);
	is($rc, 0, "$help: exit 0");
	like($out, qr/demotion-guard run \[options\]/, "$help: the subcommands on stdout");
	like($out, qr/--deadline/, "$help: the daemon's options too");
	like($out, qr/exit codes: 0 ok, 1 runtime failure, 2 usage/, "$help: the exit codes");
}

for my $version ('--version', 'version')
{
	($rc, $out, $err) = dg($version);
	is($rc, 0, "$version: exit 0");
	like($out, qr/^demotion-guard \S+ \(libpq [\d.]+, libmicrohttpd [\d.]+, jansson [\d.]+/,
		"$version: the version and the libraries it runs with");
}

# run --help anywhere among the options: the usage, and the daemon does not start.
($rc, $out, $err) = dg('run', '--deadline', '5s', '--help');
is($rc, 0, 'run ... --help: exit 0');
like($out, qr/--pgdata/, 'run ... --help: the options');
is($err, '', 'run ... --help: the daemon did not start (nothing on stderr)');

# Each subcommand reaches its own parser: its own usage error for a bad option.
($rc, $out, $err) = dg('run', '--no-such-option');
is($rc, 2, 'run with an unknown option: exit 2');
like($err, qr/--no-such-option/, 'run: the error names the option');

# Each subcommand's --help is its own usage, not the top-level one.
for my $sub ('check', 'status', 'arm', 'disarm', 'kill', 'hook')
{
	($rc, $out, $err) = dg($sub, '--help');
	is($rc, 0, "$sub --help: exit 0");
	like($out, qr/^usage: demotion-guard $sub /, "$sub --help: its own usage on stdout");
}

($rc, $out, $err) = dg('frobnicate');
is($rc, 2, 'an unknown command: exit 2');
like($err, qr/unknown command "frobnicate" \(try --help\)/, 'an unknown command: named, with a hint');

done_testing();
