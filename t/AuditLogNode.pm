# t/AuditLogNode.pm: the one place where the TAP tests make their clusters.
#
# audit_log_node(NAME, %opts) returns a started PostgreSQL::Test::Cluster with
# audit_log preloaded and writing into database postgres, and the extension
# created there.  The options say how a test's cluster differs:
#   init       => { ... }   arguments of init() (allows_streaming, extra, ...)
#   conf       => TEXT      more postgresql.conf lines, after ours
#   cron       => 1         preload pg_cron too, scheduling in database
#                           postgres over this node's Unix socket
#   scram      => 1         clients over TCP on 127.0.0.1 with scram-sha-256
#                           (pg_hba.conf: Unix sockets trusted, then
#                           hba_extra, then the TCP line)
#   hba_extra  => TEXT      with scram: lines before the TCP line
#   hba        => TEXT      the whole of pg_hba.conf, instead of either default
#   extensions => [ ... ]   CREATE EXTENSION in database postgres, in this
#                           order (default [ 'audit_log' ]; [] for none)
#   install_path => DIR     run the binaries of DIR/bin (another major, for
#                           pg_upgrade) instead of those on PATH
#   start      => 0         configure only: do not start, create nothing
#
# scram_node(NAME, CONF, %opts) is audit_log_node with scram => 1 and
# conf => CONF, the cluster the login tests share.
#
# sql_at(HOST, PORT, QUERY) runs QUERY as postgres in database postgres of a
# cluster this harness did not make (tools/demo's) and returns its unaligned
# output, chomped; it dies when psql fails.
#
# Copyright (c) 2026, audit_log developers
package AuditLogNode;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use IPC::Run;
use Exporter 'import';

our @EXPORT = qw(audit_log_node scram_node sql_at standby_pair);

sub audit_log_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name,
		$opts{install_path} ? (install_path => $opts{install_path}) : ());

	$node->init(%{ $opts{init} // {} });

	my $conf = "shared_preload_libraries = '"
	  . ($opts{cron} ? 'audit_log,pg_cron' : 'audit_log') . "'\n"
	  . "audit_log.database = 'postgres'\n";
	$conf .= "cron.database_name = 'postgres'\ncron.host = '" . $node->host . "'\n"
	  if $opts{cron};
	$conf .= "listen_addresses = '127.0.0.1'\npassword_encryption = 'scram-sha-256'\n"
	  . "log_statement = none\n"
	  if $opts{scram};
	$node->append_conf('postgresql.conf', $conf . ($opts{conf} // ''));

	my $hba = $opts{hba};
	$hba //= "local all all trust\n" . ($opts{hba_extra} // '')
	  . "host all all 127.0.0.1/32 scram-sha-256\n"
	  if $opts{scram};
	if (defined $hba)
	{
		open my $fh, '>', $node->data_dir . '/pg_hba.conf' or die $!;
		print $fh $hba;
		close $fh;
	}

	return $node if defined $opts{start} && !$opts{start};
	$node->start;
	$node->safe_psql('postgres', "CREATE EXTENSION $_")
	  for @{ $opts{extensions} // ['audit_log'] };
	return $node;
}

sub scram_node
{
	my ($name, $conf, %opts) = @_;
	return audit_log_node($name, %opts, scram => 1, conf => $conf);
}

sub sql_at
{
	my ($host, $port, $query) = @_;
	my ($out, $err);
	IPC::Run::run([ 'psql', '-X', '-At', '-h', $host, '-p', $port, '-U', 'postgres', '-d', 'postgres',
		'-c', $query ], '>', \$out, '2>', \$err)
	  or die "$query: $err";
	chomp $out;
	return $out;
}

# A scram primary (flush_interval 20 ms) that first runs $setup_sql, and a
# streaming standby made from its backup with audit_log.queue_size =
# $queue_size, started and caught up.  Returns ($primary, $standby).
sub standby_pair
{
	my ($setup_sql, $queue_size) = @_;
	my $primary = scram_node('primary', "audit_log.flush_interval = '20ms'\n",
		init => { allows_streaming => 1 },
		hba_extra => "local replication all trust\n");
	$primary->safe_psql('postgres', $setup_sql);
	$primary->backup('b1');

	my $standby = PostgreSQL::Test::Cluster->new('standby');
	$standby->init_from_backup($primary, 'b1', has_streaming => 1);
	$standby->append_conf('postgresql.conf', "audit_log.queue_size = $queue_size\n");
	$standby->start;
	$primary->wait_for_catchup($standby);
	return ($primary, $standby);
}

1;
