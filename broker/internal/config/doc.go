// Package config defines the broker's and topics' configuration keys with
// Apache Kafka's own names, types, defaults and validation, parses
// server.properties files, and resolves a topic's effective configuration
// (topic override, else the broker's value, else the default) together with
// the source Kafka's DescribeConfigs reports for it.
//
// Everything here is pure: no I/O beyond the io.Reader handed to Parse.
package config
