# t/AuditLogNode.pm: the test cluster most TAP files here need: audit_log
# preloaded and writing into database postgres, clients over TCP on
# 127.0.0.1 with scram-sha-256, Unix sockets trusted, the extension created.
package AuditLogNode;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Exporter 'import';

our @EXPORT = qw(scram_node);

# scram_node(NAME, CONF, %opts): CONF holds extra postgresql.conf lines;
# opts: init => { ...arguments of init() }, hba_extra => lines put before
# the TCP line of pg_hba.conf.  Returns the started node.
sub scram_node
{
	my ($name, $conf, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);

	$node->init(%{ $opts{init} // {} });
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'audit_log'
audit_log.database = 'postgres'
listen_addresses = '127.0.0.1'
password_encryption = 'scram-sha-256'
log_statement = none
$conf
});
	open my $hba, '>', $node->data_dir . '/pg_hba.conf' or die $!;
	print $hba "local all all trust\n" . ($opts{hba_extra} // '')
	  . "host all all 127.0.0.1/32 scram-sha-256\n";
	close $hba;
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION audit_log');
	return $node;
}

1;
