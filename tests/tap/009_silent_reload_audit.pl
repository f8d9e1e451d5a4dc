# Three things an operator relies on, in one shutdown:
# - a "silent" client (never answers, so only wal_sender_timeout would end it)
#   is ended at the deadline like a stale one;
# - SIGHUP re-reads the --config file all or nothing: a bad value is refused
#   and the old configuration kept, a good one is taken;
# - an audit log that cannot be written does not delay a termination; the
#   events stay queued and land, in order, once the file can be written.
use strict;
use warnings;
use File::Path qw(make_path);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $primary = new_primary('primary', conf => "wal_sender_timeout = '10min'");
my $silent  = start_consumer($primary, slot => 'silent', mode => 'silent');
$primary->safe_psql('postgres', "INSERT INTO t VALUES (1, 'silent-row-1')");
ok(wait_until(sub { file_contains($silent->{out}, 'silent-row-1') }, 30, 'the silent client to receive'),
	'the silent client received the row');
is($primary->safe_psql('postgres',
		"SELECT flush_lsn IS NULL FROM pg_stat_replication WHERE pid = $silent->{walsender}"),
	't', 'the silent client never confirmed anything');

# Configuration from a file, reloaded on SIGHUP.
my $conf = log_file('guard.conf');
append_to_file($conf, "# test\ndeadline = 1h\nstall-after = \"1h\"\n");
my $auditdir = log_file('auditdir');
my $audit    = "$auditdir/audit.log";
make_path($auditdir);    # --audit-log's directory must exist at start-up
my $guard = start_guard($primary, 'silent',
	[ '--config', $conf, '--audit-log', $audit ]);
like(guard_log($guard), qr/deadline 3600000ms/, 'deadline 1h read from the file');

open(my $fh, '>', $conf) or die;
print $fh "deadline = soon\n";
close $fh;
kill 'HUP', $guard->{pid};
ok(wait_log($guard, qr/configuration not reloaded, keeping the previous one: invalid value "soon" for option "--deadline" \(configuration file ".*" line 1\)/),
	'a bad value on SIGHUP is refused, naming option, value, file and line');

open($fh, '>', $conf) or die;
print $fh "deadline = 2s\nstall-after = 1h\n";
close $fh;
kill 'HUP', $guard->{pid};
ok(wait_log($guard, qr/configuration reloaded: .*deadline 2000ms/), 'a good value on SIGHUP is taken');
ok(proc_alive($guard->{pid}), 'the guard survived both reloads');
ok(wait_guard_polled($primary), 'the guard polled what exists now');

# The audit directory is gone: the stop must not wait for it.
rename($auditdir, "$auditdir.away") or die "rename $auditdir: $!";
ok(!-d $auditdir, 'the audit directory is gone');
my $pm = postmaster_pid($primary);
my $t0 = stop_nowait($primary);
my $gone = wait_postmaster_gone($primary, $pm, 30);
ok(defined $gone, 'the stop completes although the audit log cannot be written');
mark_stopped($primary);
cmp_ok($gone - $t0, '>=', 2, 'the silent client was ended no sooner than the deadline');
ok(wait_log($guard, qr/could not write audit log ".*audit\.log": No such file or directory; \d+ event\(s\) queued, retrying/),
	'the failed audit write is logged loudly');
ok(wait_log($guard, qr/audit: \{.*"event":"terminated".*"slot":"silent".*"reason":"deadline"/),
	'the termination is in the daemon log meanwhile');

rename("$auditdir.away", $auditdir) or die "rename back $auditdir: $!";
my @events;
ok(wait_until(sub { @events = read_audit($audit); grep { $_->{event} eq 'shutdown_completed' } @events },
		10, 'the queued events to be written'),
	'once the directory is back the queued events are written');
is(join(',', map { $_->{event} } @events), 'shutdown_started,terminated,shutdown_completed',
	'in order, none lost');
my ($t) = grep { $_->{event} eq 'terminated' } @events;
is($t->{pid}, $silent->{walsender}, 'the silent walsender was terminated');
is($t->{method}, 'signal', 'by a verified SIGTERM');
is($t->{flush_lsn}, undef, 'flush_lsn is null: the client never confirmed');

stop_guard($guard);
stop_proc($silent);
done_testing();
