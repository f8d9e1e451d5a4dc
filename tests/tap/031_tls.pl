# TLS for a routable API (issue 11): certificates made here with openssl;
# --tls-cert, --tls-key and --tls-client-ca refused when wrong (key others
# may read, a key that does not fit, a missing half, a unix socket); on a
# TLS listener with client certificates required, plain HTTP gets no HTTP
# answer, a client that trusts another CA refuses the guard, a client
# without a certificate or with one of another CA is refused (403), a kill
# check and the before-stop hook over mTLS work (flags and environment), and a
# SIGHUP serves a renewed certificate (its serial changes) while a bad new
# one keeps the old one and says why.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use GuardTest;

my $node = new_primary('primary');
my $dir  = $PostgreSQL::Test::Utils::tmp_check;
my $ssl  = "$dir/tls";
mkdir $ssl;

# Runs a command; returns (exit code, stdout, stderr).
sub run_cmd
{
	my (@cmd) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(\@cmd, '<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(30));
	return ($? >> 8, $out, $err);
}

# Runs openssl; dies when it fails.
sub openssl
{
	my ($rc, $out, $err) = run_cmd('openssl', @_);
	die "openssl @_: $err" if $rc != 0;
	return $out;
}

# A self-signed CA "$name.crt" / "$name.key".
sub make_ca
{
	my ($name) = @_;
	openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
		'-keyout', "$ssl/$name.key", '-out', "$ssl/$name.crt", '-days', '2',
		'-subj', "/CN=$name");
	chmod 0600, "$ssl/$name.key";
	return;
}

# A certificate "$name.crt" signed by CA $ca for $cn (a server's carries
# subjectAltName IP:127.0.0.1); its key "$name.key", mode 0600, is kept when
# it exists (a renewal).
sub make_cert
{
	my ($name, $ca, $cn, $server) = @_;
	if (!-f "$ssl/$name.key")
	{
		openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
			'-out', "$ssl/$name.key");
		chmod 0600, "$ssl/$name.key";
	}
	openssl('req', '-new', '-key', "$ssl/$name.key", '-out', "$ssl/$name.csr",
		'-subj', "/CN=$cn");
	open my $fh, '>', "$ssl/$name.ext" or die $!;
	print $fh $server ? "subjectAltName=IP:127.0.0.1\n" : "extendedKeyUsage=clientAuth\n";
	close $fh;
	openssl('x509', '-req', '-in', "$ssl/$name.csr", '-CA', "$ssl/$ca.crt", '-CAkey',
		"$ssl/$ca.key", '-set_serial', '0x' . sprintf('%08x', int(rand(2**31))),
		'-days', '1', '-extfile', "$ssl/$name.ext", '-out', "$ssl/$name.crt.new");
	rename "$ssl/$name.crt.new", "$ssl/$name.crt" or die $!;
	return "$ssl/$name.crt";
}

# The serial of a certificate file, or of the one the guard serves.
sub serial_of_pem
{
	my ($pem) = @_;
	my ($rc, $out) = (0, '');
	IPC::Run::run([ 'openssl', 'x509', '-noout', '-serial' ], '<', \$pem, '>', \$out,
		'2>', \my $err, IPC::Run::timeout(10));
	return $out =~ /serial=(\w+)/ ? uc $1 : undef;
}

sub served_serial
{
	my ($addr) = @_;
	my ($rc, $out) = run_cmd('openssl', 's_client', '-connect', $addr, '-servername', 'localhost');
	my ($pem) = $out =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----)/s;
	return defined $pem ? serial_of_pem($pem) : undef;
}

make_ca('ca');
make_ca('otherca');
my $srv_crt = make_cert('server', 'ca', '127.0.0.1', 1);
my $srv_key = "$ssl/server.key";
make_cert('client', 'ca', 'client', 0);
make_cert('stranger', 'otherca', 'stranger', 0);
make_cert('wrongkey', 'ca', '127.0.0.1', 1);    # its key does not fit server.crt

# --- refused at start-up: exit 2 and the option named
sub refused
{
	my ($what, $re, @args) = @_;
	my ($rc, $out, $err) = run_cmd($ENV{DG_BIN}, 'run', '--dsn', $node->connstr('postgres'),
		'--listen', '127.0.0.1:0', @args);
	is($rc, 2, "$what: exit 2");
	like($err, $re, "$what: the message says why");
	return;
}
my $open_key = "$ssl/open.key";
PostgreSQL::Test::Utils::append_to_file($open_key, slurp_file($srv_key));
chmod 0644, $open_key;
refused('a key others may read', qr/"--tls-key".*may be read by others/,
	'--tls-cert', $srv_crt, '--tls-key', $open_key);
refused('a certificate without a key', qr/option "--tls-cert" needs "--tls-key"/,
	'--tls-cert', $srv_crt);
refused('a key that does not fit', qr/"--tls-cert".*"--tls-key":.*(match|key)/i,
	'--tls-cert', $srv_crt, '--tls-key', "$ssl/wrongkey.key");
refused('a client CA without a certificate', qr/"--tls-client-ca" needs "--tls-cert"/,
	'--tls-client-ca', "$ssl/ca.crt");
refused('a file that is not PEM', qr/"--tls-client-ca".*(no PEM certificate|error)/i,
	'--tls-cert', $srv_crt, '--tls-key', $srv_key, '--tls-client-ca', $srv_key);
{
	my ($rc, $out, $err) = run_cmd($ENV{DG_BIN}, 'run', '--dsn', $node->connstr('postgres'),
		'--listen', "unix:$dir/tls.sock", '--tls-cert', $srv_crt, '--tls-key', $srv_key);
	is($rc, 2, 'TLS on a unix socket: exit 2');
	like($err, qr/"--tls-cert" needs a TCP "--listen"/, 'TLS on a unix socket: says why');
}

# --- the guard over mTLS
my $stale = start_consumer($node, slot => 'tls_stale', mode => 'stale');
my $g = start_guard($node, 'tls',
	[ '--listen', '127.0.0.1:0', '--tls-cert', $srv_crt, '--tls-key', $srv_key,
	  '--tls-client-ca', "$ssl/ca.crt" ]);
my $addr;
ok( wait_until(
		sub { ($addr) = guard_log($g) =~ /HTTP API listening on (\S+) \(TLS, client certificates required\)/; $addr },
		$GuardTest::TIMEOUT, 'the guard to listen with TLS'),
	'the guard listens with TLS and requires client certificates');
my $url = "https://$addr";
my @mtls = ('--url', $url, '--cacert', "$ssl/ca.crt", '--cert', "$ssl/client.crt",
	'--key', "$ssl/client.key");

ok( wait_until(sub { (run_cmd($ENV{DG_BIN}, 'status', @mtls))[0] == 0 },
		$GuardTest::TIMEOUT, 'status over mTLS'),
	'status over mTLS: exit 0');

my ($rc, $out, $err) = run_cmd('curl', '-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}',
	"http://$addr/health");
is($out, '000', 'plain HTTP on the TLS listener gets no HTTP answer');
isnt($rc, 0, 'plain HTTP on the TLS listener: curl fails');

($rc, $out, $err) = run_cmd($ENV{DG_BIN}, 'status', '--url', $url, '--cacert',
	"$ssl/otherca.crt", '--cert', "$ssl/client.crt", '--key', "$ssl/client.key");
is($rc, 1, 'a client trusting another CA: exit 1');
like($err, qr/cannot reach the daemon.*certificate/i, 'a client trusting another CA refuses the guard');

($rc, $out, $err) = run_cmd($ENV{DG_BIN}, 'status', '--url', $url, '--cacert', "$ssl/ca.crt");
is($rc, 1, 'no client certificate: exit 1');
like($err, qr/403 forbidden: this guard requires a client certificate/,
	'no client certificate: refused with 403');

($rc, $out, $err) = run_cmd($ENV{DG_BIN}, 'kill', '--slot', 'tls_stale', '--url', $url,
	'--cacert', "$ssl/ca.crt", '--cert', "$ssl/stranger.crt", '--key', "$ssl/stranger.key");
is($rc, 1, 'a client certificate of another CA: exit 1');
like($err, qr/403 forbidden: client certificate refused/, 'a client certificate of another CA: 403');
ok(proc_alive($stale->{walsender}), 'the refused kill ended nothing');

($rc, $out, $err) = run_cmd($ENV{DG_BIN}, 'kill', '--slot', 'tls_stale', '--reason', 'mtls', @mtls);
is($rc, 0, 'kill over mTLS: exit 0') or diag($err);
my @t = wait_audit($g, 'terminated');
is($t[0]{slot},   'tls_stale', 'kill over mTLS: the walsender is terminated');
is($t[0]{reason}, 'api',       'kill over mTLS: reason api');

($rc, $out, $err) = run_cmd($ENV{DG_BIN}, 'check', @mtls);
ok($rc == 0 || $rc == 3 || $rc == 4, "check over mTLS reaches the guard (exit $rc)") or diag($err);

{
	local $ENV{DEMOTION_GUARD_CACERT} = "$ssl/ca.crt";
	local $ENV{DEMOTION_GUARD_CERT}   = "$ssl/client.crt";
	local $ENV{DEMOTION_GUARD_KEY}    = "$ssl/client.key";
	($rc, $out, $err) = run_cmd($ENV{DG_BIN}, 'hook', 'before-stop', '--url', $url);
	is($rc, 0, 'hook before-stop over mTLS, TLS files from the environment: exit 0');
	like($err, qr/before-stop: armed/, 'hook before-stop over mTLS armed the guard');
}

# --- a reload serves a renewed certificate
my $serial1 = served_serial($addr);
is($serial1, serial_of_pem(slurp_file($srv_crt)), 'the guard serves --tls-cert');
make_cert('server', 'ca', '127.0.0.1', 1);    # renewed: same key, new serial
my $serial2 = serial_of_pem(slurp_file($srv_crt));
isnt($serial2, $serial1, 'the renewed certificate has a new serial');
kill 'HUP', $g->{pid};
ok(wait_log($g, qr/TLS material reloaded/), 'SIGHUP: the TLS material is reloaded');
is(served_serial($addr), $serial2, 'after SIGHUP the guard serves the renewed certificate');
is((run_cmd($ENV{DG_BIN}, 'status', @mtls))[0], 0, 'status over mTLS after the reload');

# --- a bad new certificate keeps the old one
PostgreSQL::Test::Utils::append_to_file("$ssl/garbage", "not a certificate\n");
rename "$ssl/garbage", $srv_crt or die $!;
kill 'HUP', $g->{pid};
ok( wait_log($g, qr/configuration not reloaded, keeping the previous one: .*"--tls-cert"/),
	'SIGHUP with a bad certificate: not reloaded, and the log says why');
is(served_serial($addr), $serial2, 'the guard still serves the previous certificate');
is((run_cmd($ENV{DG_BIN}, 'status', @mtls))[0], 0, 'status over mTLS still works');

stop_guard($g);
stop_proc($stale);
done_testing();
