package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/highwater-io/highwater/sizing"
)

// workloadFlagUsage documents every Workload field as a flag; the flag name
// is the YAML key in kebab case (ingestMBps -> --ingest-mbps).
var workloadFlagUsage = map[string]string{
	"ingestMBps":              "average producer rate into the cluster, MB/s (MB = 2^20 bytes)",
	"ingestPeakMBps":          "peak producer rate the brokers must sustain, MB/s (0 = the average)",
	"dataOutMBps":             "total consumer read rate, MB/s (0 = consumer-groups × ingest)",
	"consumerGroups":          "consumer groups reading everything (used when data-out-mbps is 0)",
	"replicationFactor":       "replication factor",
	"retentionHours":          "full retention, hours",
	"tieredStorage":           "use tiered storage",
	"localRetentionHours":     "retention on broker disks with tiered storage, hours",
	"tieredReadPercent":       "share of data out read back from tiered storage, %",
	"availabilityZones":       "availability zones (brokers come in multiples of this)",
	"nearestReplicaFetching":  "consumers fetch from a replica in their own AZ (KIP-392)",
	"laggingConsumersPercent": "share of data out read from disk by lagging consumers, %",
	"encryptionInTransit":     "TLS between clients and brokers",
	"safetyFactor":            "multiplier on every throughput and memory load (>= 1)",
	"diskUtilisationPercent":  "how full broker volumes may get, %",
	"utilisationPercent":      "most of storage/EBS/network/page-cache capacity to use, %",
	"cpuUtilisationPercent":   "most of CPU capacity to use, %",
	"ramCachedSeconds":        "seconds of replicated ingest each broker keeps in the page cache",
	"brokersDownTolerated":    "brokers that may be out while the rest carry the peak",
	"maxBrokers":              "cluster broker quota",
	"partitions":              "partitions of the topic (0 = derive)",
	"partitionMBps":           "throughput one partition sustains, MB/s (0 = calibration or catalogue default)",
	"consumerParallelism":     "most consumers one group runs in parallel",
}

// sizeOptions are the size command's non-workload flags.
type sizeOptions struct {
	workloadFile, catalogFile, calibrateFile, format string
	example, printCatalog, printWorkload             bool
	types                                            []string
	// flagged receives the workload flags; only the ones given are used.
	flagged sizing.Workload
}

func sizeCommand() *cobra.Command {
	o := &sizeOptions{flagged: sizing.ExampleWorkload()}
	cmd := &cobra.Command{
		Use:   "size",
		Short: "Plan a Kafka cluster (MSK broker type, count, storage, monthly cost) for a workload",
		Long: `Plan a cluster for a workload: broker type and count (a multiple of the AZ
count), partitions, storage per broker, tiered storage, and the monthly cost on
Amazon MSK with and without tiered storage and on self-managed EC2, with the
resource that binds and the headroom left on each.

The workload starts as the published MSK sizing-spreadsheet example (so plain
'highwater size' prints its figures); --workload FILE (YAML, keys as printed by
--print-workload) replaces what it names, and flags win over both.

Broker types, capacity limits and prices come from an embedded catalogue
(--print-catalog shows it; edit a copy and pass --catalog FILE).
--calibrate FILE sizes from a measured capacity instead of the catalogue's
CPU assumption (JSON schema in 'go doc github.com/highwater-io/highwater/sizing').`,
		Example: `  highwater size
  highwater size --ingest-mbps 200 --retention-hours 168 --format markdown
  highwater size --workload workload.yaml --catalog my-prices.yaml --format json
  highwater size --calibrate bench.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	f.StringVar(&o.workloadFile, "workload", "", "workload YAML file (keys as --print-workload prints them)")
	f.BoolVar(&o.example, "example", false, "size the published MSK example exactly (the default workload; takes no workload flags)")
	f.StringVar(&o.catalogFile, "catalog", "", "instance catalogue YAML replacing the embedded one")
	f.StringVar(&o.calibrateFile, "calibrate", "", "measured capacity JSON (highwater.sizing.calibration/v1)")
	f.StringVar(&o.format, "format", "text", "output: "+strings.Join(sizing.Formats, ", "))
	f.StringSliceVar(&o.types, "type", nil, "only consider these broker types (repeatable)")
	f.BoolVar(&o.printCatalog, "print-catalog", false, "print the embedded catalogue (a starting point for --catalog) and exit")
	f.BoolVar(&o.printWorkload, "print-workload", false, "print the resolved workload as YAML and exit")
	registerWorkloadFlags(f, &o.flagged)
	return cmd
}

func (o *sizeOptions) run(cmd *cobra.Command) error {
	out := cmd.OutOrStdout()
	if o.printCatalog {
		_, err := out.Write(sizing.DefaultCatalogYAML())
		return err
	}
	if !slices.Contains(sizing.Formats, o.format) {
		return fmt.Errorf("--format %q: want one of %s", o.format, strings.Join(sizing.Formats, ", "))
	}
	w, err := o.workload(cmd.Flags())
	if err != nil {
		return err
	}
	if o.printWorkload {
		data, err := w.YAML()
		if err != nil {
			return err
		}
		_, err = out.Write(data)
		return err
	}
	cat, err := loadCatalog(o.catalogFile)
	if err != nil {
		return err
	}
	opt := sizing.Options{Types: o.types}
	if o.calibrateFile != "" {
		data, err := os.ReadFile(o.calibrateFile)
		if err != nil {
			return err
		}
		c, err := sizing.ParseCalibration(data)
		if err != nil {
			return fmt.Errorf("%s: %w", o.calibrateFile, err)
		}
		opt.Calibration = &c
	}
	plan, err := sizing.Size(w, cat, opt)
	if err != nil {
		return err
	}
	return sizing.Format(out, plan, o.format)
}

// workload resolves the example, the --workload file and the flags.
func (o *sizeOptions) workload(f *pflag.FlagSet) (sizing.Workload, error) {
	if o.example && o.workloadFile != "" {
		return sizing.Workload{}, errors.New("--example and --workload are exclusive")
	}
	if changed := changedWorkloadFlags(f); o.example && len(changed) > 0 {
		return sizing.Workload{}, fmt.Errorf("--example sizes the published example as it is; drop --%s", strings.Join(changed, ", --"))
	}
	w := sizing.ExampleWorkload()
	if o.workloadFile != "" {
		data, err := os.ReadFile(o.workloadFile)
		if err != nil {
			return sizing.Workload{}, err
		}
		if w, err = sizing.ParseWorkload(data); err != nil {
			return sizing.Workload{}, fmt.Errorf("%s: %w", o.workloadFile, err)
		}
	}
	applyChangedFlags(f, &w, o.flagged)
	return w, nil
}

func loadCatalog(file string) (sizing.Catalog, error) {
	if file == "" {
		return sizing.DefaultCatalog()
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return sizing.Catalog{}, err
	}
	cat, err := sizing.ParseCatalog(data)
	if err != nil {
		return sizing.Catalog{}, fmt.Errorf("%s: %w", file, err)
	}
	return cat, nil
}

// registerWorkloadFlags binds one flag per Workload field, so that the
// flags, the YAML keys and the struct cannot drift apart.
func registerWorkloadFlags(f *pflag.FlagSet, w *sizing.Workload) {
	v := reflect.ValueOf(w).Elem()
	for i := range v.NumField() {
		key := yamlKey(v.Type().Field(i))
		name, usage := kebab(key), workloadFlagUsage[key]
		switch p := v.Field(i).Addr().Interface().(type) {
		case *float64:
			f.Float64Var(p, name, *p, usage)
		case *int:
			f.IntVar(p, name, *p, usage)
		case *bool:
			f.BoolVar(p, name, *p, usage)
		}
	}
}

// applyChangedFlags copies the workload fields whose flags were given.
func applyChangedFlags(f *pflag.FlagSet, dst *sizing.Workload, src sizing.Workload) {
	d, s := reflect.ValueOf(dst).Elem(), reflect.ValueOf(src)
	for i := range d.NumField() {
		if f.Changed(kebab(yamlKey(d.Type().Field(i)))) {
			d.Field(i).Set(s.Field(i))
		}
	}
}

// changedWorkloadFlags names the workload flags given on the command line.
func changedWorkloadFlags(f *pflag.FlagSet) []string {
	var out []string
	t := reflect.TypeFor[sizing.Workload]()
	for i := range t.NumField() {
		if name := kebab(yamlKey(t.Field(i))); f.Changed(name) {
			out = append(out, name)
		}
	}
	return out
}

func yamlKey(sf reflect.StructField) string {
	key, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	return key
}

// kebab turns a camelCase key into a flag name: ingestMBps -> ingest-mbps.
func kebab(key string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range key {
		if unicode.IsUpper(r) && prevLower {
			b.WriteByte('-')
		}
		prevLower = unicode.IsLower(r) || unicode.IsDigit(r)
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
