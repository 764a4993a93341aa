# The lake as tables, where it lies: Glue Data Catalog tables over the silver and gold table folders,
# with partition projection on subject and ds, so Athena queries them without a crawler or MSCK
# REPAIR. `subject` is injected: queries name it (`WHERE subject = 'science_fiction'`); `ds` is
# projected day by day from 2024-01-01 to today. Projection is Athena's own: Redshift Spectrum, EMR
# and Athena for Spark see no partitions of these tables and read the folders by path instead
# (docs/engines.md).
#
# Each location is a table folder, which holds the table's Parquet and `_manifest.json` files only
# (Athena reads every object there not named `_…`/`.…` as Parquet); the gold CSV copies are outside,
# in exports/gold_csv/, and not registered. The template puts the subject in as it is, unescaped,
# which is the folder name bookpipe writes: it accepts only subject keys that need no escaping.
# infra/tests/test_lake_as_tables.py expands it against the folders of a real run.
locals {
  glue_type = { utf8 = "string", int16 = "smallint", int32 = "int", int64 = "bigint", boolean = "boolean", float64 = "double" }
  # Column names and Arrow types, as src/tables.rs (silver) and src/warehouse/sql.rs (gold) write them.
  lake_tables = {
    "silver/books" = [
      ["work_key", "utf8"], ["title", "utf8"], ["first_publish_year", "int16"], ["edition_count", "int32"],
      ["cover_id", "int64"], ["has_fulltext", "boolean"], ["public_scan", "boolean"],
    ]
    "silver/authors" = [
      ["author_key", "utf8"], ["name", "utf8"], ["birth_date", "utf8"], ["death_date", "utf8"],
      ["birth_year", "int16"], ["death_year", "int16"], ["bio", "utf8"], ["wikidata", "utf8"], ["viaf", "utf8"],
      ["isni", "utf8"], ["from_record", "boolean"],
    ]
    "silver/book_authors" = [
      ["work_key", "utf8"], ["author_key", "utf8"], ["position", "int32"], ["listed_author_key", "utf8"],
    ]
    "silver/rejects" = [
      ["source", "utf8"], ["position", "int32"], ["key", "utf8"], ["reason", "utf8"], ["record", "utf8"],
    ]
    "gold/author_books_per_year" = [
      ["author_key", "utf8"], ["author_name", "utf8"], ["year", "int32"], ["books", "int64"],
    ]
    "gold/author_yearly_average" = [
      ["author_key", "utf8"], ["author_name", "utf8"], ["total_books", "int64"], ["dated_books", "int64"],
      ["first_year", "int32"], ["last_year", "int32"], ["active_years", "int64"],
      ["avg_books_per_active_year", "float64"], ["avg_books_per_career_year", "float64"],
    ]
    "gold/books_per_year" = [
      ["year", "int32"], ["books", "int64"], ["authors", "int64"],
    ]
  }
}

resource "aws_glue_catalog_database" "lake" {
  name        = replace(var.name, "-", "_")
  description = "bookpipe's lake: silver and gold tables, partitioned by subject and ds"
}

resource "aws_glue_catalog_table" "lake" {
  for_each      = local.lake_tables
  database_name = aws_glue_catalog_database.lake.name
  # silver/books → silver_books
  name       = replace(each.key, "/", "_")
  table_type = "EXTERNAL_TABLE"

  parameters = {
    "classification"              = "parquet"
    "EXTERNAL"                    = "TRUE"
    "projection.enabled"          = "true"
    "projection.subject.type"     = "injected"
    "projection.ds.type"          = "date"
    "projection.ds.format"        = "yyyy-MM-dd"
    "projection.ds.range"         = "2024-01-01,NOW"
    "projection.ds.interval"      = "1"
    "projection.ds.interval.unit" = "DAYS"
    "storage.location.template"   = "${local.lake_url}/${each.key}/subject=$${subject}/ds=$${ds}/"
  }

  partition_keys {
    name = "subject"
    type = "string"
  }
  partition_keys {
    name = "ds"
    type = "date"
  }

  storage_descriptor {
    location      = "${local.lake_url}/${each.key}/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }
    dynamic "columns" {
      for_each = each.value
      content {
        name = columns.value[0]
        type = local.glue_type[columns.value[1]]
      }
    }
  }
}

resource "aws_athena_workgroup" "lake" {
  name = var.name
  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    result_configuration {
      output_location = "s3://${aws_s3_bucket.lake.bucket}/athena-results/"
      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.bookpipe.arn
      }
    }
  }
  tags = local.tags
}
