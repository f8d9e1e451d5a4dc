# PostgreSQL 17 and later (run by make check-matrix on those majors): a
# logical walsender on a failover slot waits at shutdown for the standbys
# of synchronized_standby_slots (wait event WaitForStandbyConfirmation), so
# with that standby frozen a *healthy* consumer holds the stop up.  The
# guard shows it (cause standby_wait), ends the logical walsender at the
# deadline, never touches the physical walsender to the frozen standby, and
# says that it still holds the stop and what bounds it (audit "holding",
# wal_sender_timeout).  A standby with sync_replication_slots = on runs a
# slot-sync worker, which is never taken for a walsender.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = new_primary('primary', conf => "wal_sender_timeout = 20s\n");
BAIL_OUT('this test needs PostgreSQL 17 or later') if $node->pg_version < 17;
my $standby = new_standby($node, 'sb');
$standby->append_conf('postgresql.conf',
	"sync_replication_slots = on\nhot_standby_feedback = on\n"
	  . "primary_conninfo = '" . $node->connstr . " dbname=postgres application_name=sb'\n");
$standby->restart;
$node->safe_psql('postgres', "ALTER SYSTEM SET synchronized_standby_slots = 'sb'");
$node->reload;
$node->safe_psql('postgres',
	"SELECT pg_create_logical_replication_slot('f1', 'test_decoding', false, false, true)");
is($node->safe_psql('postgres', "SELECT failover FROM pg_replication_slots WHERE slot_name = 'f1'"),
	't', 'slot f1 is a failover slot');

# 1. The standby's slot-sync worker is not a walsender: a guard beside the
# standby sees its fast stop end with nothing to do.  (Before any consumer
# streams: while the standby is down, a walsender on f1 that has WAL to send
# fails, since the slot of synchronized_standby_slots has no active_pid.)
ok( wait_until(
		sub {
			$standby->safe_psql('postgres',
				"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'f1' AND synced") == 1;
		}),
	'the standby synchronized the failover slot');
my $spm = postmaster_pid($standby);
ok((grep { /slotsync worker/ } postmaster_children($spm)), 'the standby runs a slot-sync worker');
my $gs = start_guard($standby, 'standby', [ '--deadline', '1s' ]);
stop_nowait($standby);
ok(defined wait_postmaster_gone($standby, $spm, 30), 'the standby stops');
mark_stopped($standby);
wait_audit($gs, 'shutdown_completed');
is(scalar(audit_events($gs, $_)), 0, "standby: no $_ event")
  for qw(terminated terminate_failed holding would_terminate);
stop_guard($gs);
$standby->start;
$node->wait_for_catchup('sb', 'replay');
my $c = start_consumer($node, slot => 'f1', mode => 'healthy', create => 0,
	status_interval => 200);

# 2. The standby frozen: the healthy consumer's walsender waits for it.
my $g = start_guard($node, 'failover',
	[ '--deadline', '3s', '--stall-after', '1h', '--listen', '127.0.0.1:0' ]);
guard_url($g);
my $wr = $standby->safe_psql('postgres', 'SELECT pid FROM pg_stat_wal_receiver');
ok($wr =~ /^\d+$/, "the standby's walreceiver is $wr");
kill 'STOP', $wr;
$node->safe_psql('postgres', "INSERT INTO t VALUES (1, 'after the freeze')");
my $w;
ok( wait_until(
		sub {
			my ($st, $j) = http_req($g, 'GET', '/v1/walsenders');
			($w) = grep { ($_->{slot} // '') eq 'f1' } @{ $j->{walsenders} // [] };
			$w && ($w->{cause} // '') eq 'standby_wait';
		}),
	'f1: cause standby_wait while the standby is frozen');
ok($w->{failover}, 'f1: shown as a failover slot');
is($w->{risk}, 'lagging', 'f1: risk lagging (its client is healthy: not stalled)');

my $pm = postmaster_pid($node);
my $t0 = stop_nowait($node);
my $gone = wait_postmaster_gone($node, $pm, 60);
kill 'CONT', $wr;
ok(defined $gone, 'the fast stop completes (wal_sender_timeout ends the frozen standby\'s walsender)');
mark_stopped($node);
note(sprintf('stop took %.2f s', ($gone // $t0) - $t0));
wait_audit($g, 'shutdown_completed');
my @term = audit_events($g, 'terminated');
is(scalar @term, 1, 'one walsender terminated');
is($term[0]{slot}, 'f1', 'the failover slot\'s logical walsender') if @term;
is($term[0]{cause}, 'standby_wait', 'audit: cause standby_wait') if @term;
is($term[0]{reason}, 'deadline', 'audit: reason deadline') if @term;
my @hold = audit_events($g, 'holding');
is(scalar @hold, 1, 'one physical walsender reported as holding the stop');
is($hold[0]{slot}, 'sb', 'the frozen standby\'s') if @hold;
is($hold[0]{kind}, 'physical', 'kind physical') if @hold;
like($hold[0]{bound} // '', qr/wal_sender_timeout \(20000 ms\)/, 'bound: wal_sender_timeout 20 s')
  if @hold;
stop_guard($g);
stop_proc($c);

done_testing();
