//! What each task reads and writes, as OpenLineage datasets named by the spec's naming conventions
//! (openlineage.io/docs/spec/naming): a lake table is its folder — `s3://<bucket>` and the key
//! (`prod/silver/books`), or `file` and the absolute path of a local lake — as query engines and
//! Glue name a table by its location, so every day of a table is one dataset in a catalog; a
//! warehouse table is `postgres://<host>:<port>` and `<db>.public.<table>`,
//! `redshift://<cluster>.<region>:<port>` likewise, or `duckdb://<absolute path>` and
//! `<file stem>.main.<table>` (as dbt-duckdb's events name them). Open Library is
//! its base URL and the API path read.
//!
//! Pure: the command layer gives it the settings; [`super::stats`] counts what was written.

use std::path::{Path as FsPath, PathBuf};

use arrow::datatypes::{DataType, SchemaRef};
use object_store::path::Path;
use reqwest::Url;

use crate::lake::layout;
use crate::settings::{LakeUrl, Partition, WarehouseUrl};
use crate::tables::Table;
use crate::warehouse::sql::Gold;

/// One dataset of a task, with where its written rows are counted.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub namespace: String,
    pub name: String,
    /// Columns and their SQL types, when the dataset is a table.
    pub fields: Vec<(String, String)>,
    /// Where what this run wrote to it is counted (outputs only).
    pub stats: Option<Count>,
}

/// How an output's statistics are read once the task succeeded: from a lake partition's manifest,
/// which lists every object with its bytes and rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// The partition folder whose manifest lists the objects.
    pub manifest: Path,
    /// Only the objects under this folder count (a raw manifest lists pages and author objects).
    pub under: Path,
    /// A warehouse table: only the rows (it holds what the lake partition holds), not the files.
    pub rows_only: bool,
}

/// A task's datasets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskIo {
    pub inputs: Vec<Dataset>,
    pub outputs: Vec<Dataset>,
}

/// Names datasets for one lake and warehouse.
#[derive(Debug, Clone)]
pub struct Namer {
    lake: (String, String),
    warehouse: Option<(String, String)>,
}

impl Namer {
    /// `lake` and a DuckDB path must be absolute here (the command layer makes them so): a dataset
    /// name is the same whichever folder the command ran in.
    pub fn new(lake: &LakeUrl, warehouse: Option<&WarehouseUrl>) -> Self {
        let lake = match lake {
            LakeUrl::Local(path) => ("file".to_string(), path.display().to_string()),
            LakeUrl::S3 { bucket, prefix } => (format!("s3://{bucket}"), prefix.clone()),
            LakeUrl::Memory => ("memory".to_string(), String::new()),
        };
        Self { lake, warehouse: warehouse.map(warehouse_naming) }
    }

    /// The lake folder `folder` (relative to the lake root).
    fn lake(&self, folder: &Path) -> Dataset {
        let (namespace, root) = &self.lake;
        let name = match root.as_str() {
            "" => folder.to_string(),
            root => format!("{}/{folder}", root.trim_end_matches('/')),
        };
        Dataset { namespace: namespace.clone(), name, fields: vec![], stats: None }
    }

    fn warehouse(&self, table: &str, fields: Vec<(String, String)>) -> Option<Dataset> {
        let (namespace, prefix) = self.warehouse.as_ref()?;
        Some(Dataset { namespace: namespace.clone(), name: format!("{prefix}.{table}"), fields, stats: None })
    }

    fn silver(&self, table: Table, partition: &Partition, output: bool) -> Dataset {
        let folder = layout::silver_table(table);
        let count = output.then(|| Count {
            manifest: layout::silver_partition(table, partition),
            under: folder.clone(),
            rows_only: false,
        });
        Dataset { fields: fields(&table.schema(), false), stats: count, ..self.lake(&folder) }
    }

    fn raw(&self, partition: &Partition, output: bool) -> Vec<Dataset> {
        [layout::raw_subjects_root(), layout::raw_authors_root()]
            .into_iter()
            .map(|folder| {
                let count = output.then(|| Count {
                    manifest: layout::raw_subject_partition(partition),
                    under: folder.clone(),
                    rows_only: false,
                });
                Dataset { stats: count, ..self.lake(&folder) }
            })
            .collect()
    }

    /// The loaded tables in the warehouse; as outputs, counted by the silver partitions they hold.
    fn loaded(&self, partition: &Partition, output: bool) -> Vec<Dataset> {
        [Table::Books, Table::Authors, Table::BookAuthors]
            .into_iter()
            .filter_map(|table| {
                let mut dataset = self.warehouse(table.name(), fields(&table.schema(), true))?;
                dataset.stats = output.then(|| Count {
                    manifest: layout::silver_partition(table, partition),
                    under: layout::silver_table(table),
                    rows_only: true,
                });
                Some(dataset)
            })
            .collect()
    }

    /// The gold tables in the warehouse; as outputs, counted by the gold partitions they hold.
    fn gold_in_warehouse(&self, partition: &Partition, output: bool) -> Vec<Dataset> {
        Gold::ALL
            .iter()
            .filter_map(|gold| {
                let mut dataset = self.warehouse(gold.name(), fields(&gold.schema(), true))?;
                dataset.stats = output.then(|| Count {
                    manifest: layout::gold_partition(gold.name(), partition),
                    under: layout::gold_table(gold.name()),
                    rows_only: true,
                });
                Some(dataset)
            })
            .collect()
    }

    fn quality(&self, partition: &Partition, output: bool) -> Dataset {
        let folder = layout::quality_root();
        let count = output.then(|| Count {
            manifest: layout::quality_partition(partition),
            under: folder.clone(),
            rows_only: false,
        });
        Dataset { stats: count, ..self.lake(&folder) }
    }

    /// Open Library's subject pages and author records → the raw zone.
    pub fn fetch(&self, api: &Url, partition: &Partition) -> TaskIo {
        let api_namespace = api.as_str().trim_end_matches('/').to_string();
        let api = |name: String| Dataset { namespace: api_namespace.clone(), name, fields: vec![], stats: None };
        TaskIo {
            inputs: vec![api(format!("/subjects/{}.json", partition.subject)), api("/api/get_many".into())],
            outputs: self.raw(partition, true),
        }
    }

    /// The raw zone → the four silver tables.
    pub fn transform(&self, partition: &Partition) -> TaskIo {
        TaskIo {
            inputs: self.raw(partition, false),
            outputs: Table::ALL.into_iter().map(|t| self.silver(t, partition, true)).collect(),
        }
    }

    /// Silver → the warehouse's tables and the `loads` record, through the quality gate, whose
    /// document is an output too (written whether the day is loaded or refused).
    pub fn load(&self, partition: &Partition) -> TaskIo {
        let silver = [Table::Books, Table::Authors, Table::BookAuthors];
        let mut outputs = self.loaded(partition, true);
        outputs.extend(self.warehouse("loads", vec![]));
        outputs.push(self.quality(partition, true));
        TaskIo { inputs: silver.into_iter().map(|t| self.silver(t, partition, false)).collect(), outputs }
    }

    /// The loaded tables → the gold tables: in the warehouse, as Parquet in the lake, as CSV exports.
    pub fn aggregate(&self, partition: &Partition) -> TaskIo {
        let mut outputs = self.gold_in_warehouse(partition, true);
        for gold in Gold::ALL {
            for (folder, manifest) in [
                (layout::gold_table(gold.name()), layout::gold_partition(gold.name(), partition)),
                (layout::gold_csv_table(gold.name()), layout::gold_csv_partition(gold.name(), partition)),
            ] {
                let count = Count { manifest, under: folder.clone(), rows_only: false };
                outputs.push(Dataset {
                    fields: fields(&gold.schema(), false),
                    stats: Some(count),
                    ..self.lake(&folder)
                });
            }
        }
        TaskIo { inputs: self.loaded(partition, false), outputs }
    }

    /// The gold tables and the quality documents → the report pages.
    pub fn report(&self, partition: &Partition) -> TaskIo {
        let mut inputs = self.gold_in_warehouse(partition, false);
        inputs.push(self.quality(partition, false));
        let folder = layout::report_root();
        let count = Count { manifest: layout::report_partition(partition), under: folder.clone(), rows_only: false };
        TaskIo { inputs, outputs: vec![Dataset { stats: Some(count), ..self.lake(&folder) }] }
    }

    /// Silver → CSV files in a local folder.
    pub fn export(&self, partition: &Partition, out: &FsPath) -> TaskIo {
        let silver = [Table::Books, Table::Authors, Table::BookAuthors];
        TaskIo {
            inputs: silver.into_iter().map(|t| self.silver(t, partition, false)).collect(),
            outputs: vec![Dataset {
                namespace: "file".into(),
                name: out.display().to_string(),
                fields: vec![],
                stats: None,
            }],
        }
    }
}

/// The namespace and the `<database>.<schema>` prefix of a warehouse's tables.
fn warehouse_naming(warehouse: &WarehouseUrl) -> (String, String) {
    match warehouse {
        WarehouseUrl::DuckDb { path, .. } => {
            let catalog = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            (format!("duckdb://{}", path.display()), format!("{catalog}.main"))
        }
        WarehouseUrl::Postgres(pg) => {
            let (host, port, db) = pg_address(&pg.config);
            (format!("postgres://{host}:{port}"), format!("{db}.public"))
        }
        WarehouseUrl::Redshift(rs) => {
            let (host, port, db) = pg_address(&rs.pg.config);
            (format!("redshift://{}:{port}", redshift_cluster(&host)), format!("{db}.public"))
        }
    }
}

/// The first host, its port and the database, with libpq's defaults (5432; the user's name).
fn pg_address(config: &tokio_postgres::Config) -> (String, u16, String) {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.to_ascii_lowercase(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(_)) | None => "localhost".to_string(),
        #[cfg(not(unix))]
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().or(config.get_user()).unwrap_or("postgres").to_string();
    (host, port, db)
}

/// `<cluster>.<region>` of a Redshift endpoint (`wg.123456789012.eu-west-1.redshift-serverless.
/// amazonaws.com` → `wg.123456789012.eu-west-1`), as the naming spec's `{cluster_identifier}.
/// {region_name}`; a host of another shape (a proxy, a tunnel) as it is.
fn redshift_cluster(host: &str) -> String {
    for suffix in [".redshift.amazonaws.com", ".redshift-serverless.amazonaws.com"] {
        if let Some(rest) = host.strip_suffix(suffix) {
            return rest.to_string();
        }
    }
    host.to_string()
}

/// A schema's columns with their SQL types; a warehouse table has `subject` and `ds` first.
fn fields(schema: &SchemaRef, in_warehouse: bool) -> Vec<(String, String)> {
    let partition = [("subject", "VARCHAR"), ("ds", "DATE")].map(|(n, t)| (n.to_string(), t.to_string()));
    let columns = schema.fields().iter().map(|f| (f.name().clone(), sql_type(f.data_type())));
    if in_warehouse { partition.into_iter().chain(columns).collect() } else { columns.collect() }
}

fn sql_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INTEGER".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Date32 => "DATE".into(),
        other => other.to_string().to_ascii_uppercase(),
    }
}

/// A path made absolute against the working directory (lexically: `.` and `..` stay as typed
/// would not name the same dataset from two folders).
pub fn absolute(path: &FsPath) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::flags;

    fn partition() -> Partition {
        let subject = crate::settings::Subject::parse(flags::SUBJECT, "science_fiction").unwrap();
        Partition::new(subject, crate::settings::Ds::parse(flags::DS, "2026-12-03").unwrap())
    }

    fn names(datasets: &[Dataset]) -> Vec<String> {
        datasets.iter().map(|d| format!("{} {}", d.namespace, d.name)).collect()
    }

    fn warehouse(raw: &str) -> WarehouseUrl {
        WarehouseUrl::parse(raw, None, &crate::settings::PgEnv::default()).unwrap()
    }

    #[test]
    fn s3_lake_and_postgres_warehouse() {
        let lake = LakeUrl::S3 { bucket: "bookpipe-lake".into(), prefix: "prod".into() };
        let namer = Namer::new(&lake, Some(&warehouse("postgres://etl@db.example.com:6432/books")));
        let io = namer.load(&partition());
        assert_eq!(
            names(&io.inputs),
            [
                "s3://bookpipe-lake prod/silver/books",
                "s3://bookpipe-lake prod/silver/authors",
                "s3://bookpipe-lake prod/silver/book_authors"
            ]
        );
        assert_eq!(
            names(&io.outputs),
            [
                "postgres://db.example.com:6432 books.public.books",
                "postgres://db.example.com:6432 books.public.authors",
                "postgres://db.example.com:6432 books.public.book_authors",
                "postgres://db.example.com:6432 books.public.loads",
                "s3://bookpipe-lake prod/quality",
            ]
        );
        let books = &io.outputs[0];
        assert_eq!(
            books.fields[..3],
            [("subject", "VARCHAR"), ("ds", "DATE"), ("work_key", "VARCHAR")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let count = books.stats.as_ref().unwrap();
        assert_eq!(count.manifest.as_ref(), "silver/books/subject=science_fiction/ds=2026-12-03");
        assert!(count.rows_only);
    }

    #[test]
    fn local_lake_and_duckdb() {
        let lake = LakeUrl::Local("/data/lake".into());
        let namer = Namer::new(&lake, Some(&warehouse("duckdb:/data/warehouse.duckdb")));
        let io = namer.aggregate(&partition());
        assert_eq!(names(&io.inputs)[0], "duckdb:///data/warehouse.duckdb warehouse.main.books");
        let outputs = names(&io.outputs);
        assert_eq!(outputs.len(), 9);
        assert_eq!(outputs[0], "duckdb:///data/warehouse.duckdb warehouse.main.author_books_per_year");
        assert_eq!(outputs[3], "file /data/lake/gold/author_books_per_year");
        assert_eq!(outputs[4], "file /data/lake/exports/gold_csv/author_books_per_year");
        assert_eq!(io.outputs[3].fields.len(), 4, "the gold schema, without the partition columns");
    }

    #[test]
    fn fetch_reads_open_library_and_writes_raw() {
        let namer = Namer::new(&LakeUrl::Local("/l".into()), None);
        let api = Url::parse("https://openlibrary.org").unwrap();
        let io = namer.fetch(&api, &partition());
        assert_eq!(
            names(&io.inputs),
            ["https://openlibrary.org /subjects/science_fiction.json", "https://openlibrary.org /api/get_many"]
        );
        assert_eq!(names(&io.outputs), ["file /l/raw/openlibrary/subjects", "file /l/raw/openlibrary/authors"]);
        let authors = io.outputs[1].stats.as_ref().unwrap();
        assert_eq!(authors.manifest.as_ref(), "raw/openlibrary/subjects/subject=science_fiction/ds=2026-12-03");
        assert_eq!(authors.under.as_ref(), "raw/openlibrary/authors");
    }

    #[test]
    fn redshift_names_its_cluster_and_region() {
        let url = "redshift://loader@wg.123456789012.eu-west-1.redshift-serverless.amazonaws.com/books?iam_role=arn:aws:iam::123456789012:role/r";
        let (namespace, prefix) = warehouse_naming(&warehouse(url));
        assert_eq!(namespace, "redshift://wg.123456789012.eu-west-1:5439");
        assert_eq!(prefix, "books.public");
        assert_eq!(redshift_cluster("proxy.internal"), "proxy.internal");
    }
}
