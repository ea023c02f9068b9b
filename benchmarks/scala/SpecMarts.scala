// The marts of DEFINITIONS §2–§5 in one Scala Spark job: the Scala engine of the benchmark.
//
// The same computation as `benchmarks/plain_pyspark_marts.py --marts spec` (and so as the
// SPEC-only dbt build), written with the DataFrame API in Scala: staging rules, quarantine
// reasons, duplicate removal, the monthly marts, RFM scores and segments, invoice amounts,
// their distribution and histogram, and the staging balance. Each table is written as
// parquet under --out, with `_timings.json` (session start, compute, per table, total).
//
// Compiled and run by `benchmarks/scala_marts.py` with the compiler and the spark-submit of
// the pyspark install (no build tool); the Spark settings come from the profile's local
// target, as for the plain PySpark script, and are passed as --conf by that wrapper.
//
//   --raw DIR --out DIR --seeds DIR [--outlier-percentile 0.85] [--histogram-bins 40]
//   [--rfm-reference-date yyyy-mm-dd] [--csv-option key=value ...]
//
// Where the expressions are SQL text, it is the text of plain_pyspark_marts.py (itself that
// of the staging model), so that the three cannot parse a row differently.

package lgs.bench

import java.nio.charset.StandardCharsets
import java.nio.file.{Files, Paths}

import scala.collection.mutable

import org.apache.spark.sql.{Column, DataFrame, SparkSession}
import org.apache.spark.sql.expressions.Window
import org.apache.spark.sql.functions._
import org.apache.spark.storage.StorageLevel

object SpecMarts {
  final case class Settings(
      raw: String,
      out: String,
      seeds: String,
      percentile: Double,
      bins: Int,
      referenceDate: Option[String],
      csvOptions: Map[String, String]
  )

  val RawSchema: String =
    "`Invoice` string, `StockCode` string, `Description` string, `Quantity` string, " +
      "`InvoiceDate` string, `Price` string, `Customer ID` string, `Country` string, " +
      "`_corrupt_record` string"

  val RawFields: Seq[(String, String)] = Seq(
    "Invoice" -> "raw_invoice",
    "StockCode" -> "raw_stock_code",
    "Description" -> "raw_description",
    "Quantity" -> "raw_quantity",
    "InvoiceDate" -> "raw_invoice_date",
    "Price" -> "raw_price",
    "Customer ID" -> "raw_customer_id",
    "Country" -> "raw_country",
    "_corrupt_record" -> "raw_record"
  )

  val Trimmed: Seq[(String, String)] = Seq(
    "invoice_id" -> "upper(trim(raw_invoice))",
    "stock_code" -> "trim(raw_stock_code)",
    "quantity_text" -> "trim(raw_quantity)",
    "invoice_date_text" -> "trim(raw_invoice_date)",
    "price_text" -> "trim(raw_price)",
    "customer_id_text" -> "nullif(trim(raw_customer_id), '')",
    "country" -> "nullif(trim(raw_country), '')",
    "description" -> "nullif(trim(raw_description), '')"
  )

  val Parsed: Seq[(String, String)] = Seq(
    "quantity" -> ("case when quantity_text rlike '^[+-]?[0-9]+$' " +
      "then try_cast(quantity_text as int) end"),
    "unit_price" -> ("case when price_text rlike '^[+-]?[0-9]+([.][0-9]{1,3}0*)?$' " +
      "then try_cast(price_text as decimal(12, 3)) end"),
    "invoiced_at" -> ("case when invoice_date_text " +
      "rlike '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$' " +
      "then to_timestamp(invoice_date_text, 'yyyy-MM-dd HH:mm:ss') end")
  )

  val QuarantineReason: String = """
    case
        when raw_record is not null then 'wrong_column_count'
        when instr(
            concat_ws('', raw_invoice, raw_stock_code, raw_description, raw_quantity,
                raw_invoice_date, raw_price, raw_customer_id, raw_country),
            decode(unhex('EFBFBD'), 'UTF-8')
        ) > 0 then 'invalid_encoding'
        when coalesce(invoice_id, '') = '' then 'missing_invoice'
        when coalesce(stock_code, '') = '' then 'missing_stock_code'
        when not invoice_id rlike '^[A-Z]?[0-9]+$' then 'invalid_invoice_id'
        when quantity is null then 'unparseable_quantity'
        when invoiced_at is null then 'unparseable_invoice_date'
        when invoiced_at < timestamp '2000-01-01 00:00:00'
            or invoiced_at >= timestamp '2100-01-01 00:00:00' then 'invoice_date_out_of_range'
        when unit_price is null then 'unparseable_price'
        when abs(cast(quantity as decimal(10, 0)) * unit_price) >= 1e15
            then 'line_amount_out_of_range'
        when customer_id_text is not null
            and not customer_id_text rlike '^[0-9]+([.]0+)?$' then 'unparseable_customer_id'
    end
  """

  val QuintilePercentages = "array(0.2, 0.4, 0.6, 0.8)"
  val Populations: Seq[String] = Seq("all_invoices", "at_or_below_threshold")

  // ------------------------------------------------------------------------- arguments

  def parseArgs(args: Array[String]): Settings = {
    val single = mutable.Map[String, String]()
    val csvOptions = mutable.LinkedHashMap[String, String]()
    var index = 0
    while (index < args.length) {
      val name = args(index)
      if (index + 1 >= args.length) throw new IllegalArgumentException(s"$name needs a value")
      val value = args(index + 1)
      name match {
        case "--csv-option" =>
          val at = value.indexOf('=')
          if (at < 1) throw new IllegalArgumentException(s"--csv-option takes key=value: $value")
          csvOptions(value.substring(0, at)) = value.substring(at + 1)
        case "--raw" | "--out" | "--seeds" | "--outlier-percentile" | "--histogram-bins" |
            "--rfm-reference-date" =>
          single(name) = value
        case other => throw new IllegalArgumentException(s"unknown option $other")
      }
      index += 2
    }
    def required(name: String): String =
      single.getOrElse(name, throw new IllegalArgumentException(s"$name is required"))
    val percentile = single.getOrElse("--outlier-percentile", "0.85").trim.toDouble
    require(percentile >= 0.0 && percentile <= 1.0, s"outlier percentile must be in [0, 1]")
    val bins = single.getOrElse("--histogram-bins", "40").trim.toInt
    require(bins >= 1, "histogram bins must be a positive integer")
    Settings(
      raw = required("--raw"),
      out = required("--out"),
      seeds = required("--seeds"),
      percentile = percentile,
      bins = bins,
      referenceDate = single.get("--rfm-reference-date").map(_.trim).filter(_.nonEmpty),
      csvOptions = csvOptions.toMap
    )
  }

  // ------------------------------------------------------------------------- seeds

  def readSeed(spark: SparkSession, seeds: String, name: String): DataFrame =
    spark.read
      .option("header", "true")
      .option("quote", "\"")
      .option("escape", "\"")
      .option("multiLine", "true")
      .csv(Paths.get(seeds, s"$name.csv").toString)

  /** `is_service_code`: an exact code of the seed, or a code starting with a prefix. */
  def serviceCodeFilter(spark: SparkSession, seeds: String): Column = {
    val rows = readSeed(spark, seeds, "service_stock_codes")
      .select("stock_code", "match_type")
      .collect()
      .map(row => (row.getString(0), row.getString(1)))
    val exact = rows.collect { case (code, "exact") => code }.toSeq
    val prefixes = rows.collect { case (code, "prefix") => code }.toSeq
    val condition = prefixes.foldLeft(col("stock_code").isin(exact: _*)) { (cond, prefix) =>
      cond || col("stock_code").startsWith(prefix)
    }
    coalesce(condition, lit(false))
  }

  // ------------------------------------------------------------------------- staging

  def readRaw(spark: SparkSession, settings: Settings): DataFrame =
    spark.read.schema(RawSchema).options(settings.csvOptions).csv(settings.raw)

  /** One row per distinct raw row with its copy count, parse, reason and staging columns. */
  def stagedRows(raw: DataFrame, isServiceCode: Column): DataFrame = {
    val renamed = raw.select(RawFields.map { case (name, alias) => col(s"`$name`").alias(alias) }: _*)
    val distinct = renamed
      .groupBy(RawFields.map { case (_, alias) => col(alias) }: _*)
      .agg(count(lit(1)).alias("copies"))
    val trimmed = distinct.select(col("*") +: Trimmed.map { case (n, sql) => expr(sql).alias(n) }: _*)
    val parsed = trimmed.select(col("*") +: Parsed.map { case (n, sql) => expr(sql).alias(n) }: _*)
    val classified = parsed.withColumn("quarantine_reason", expr(QuarantineReason))
    val isCancellation = col("invoice_id").startsWith("C")
    val isAdjustment = col("invoice_id").startsWith("A")
    classified.select(
      col("quarantine_reason"),
      col("copies").cast("bigint").alias("copies"),
      col("invoice_id"),
      col("stock_code"),
      col("description"),
      col("quantity"),
      regexp_extract(col("customer_id_text"), "^([0-9]+)", 1).alias("customer_id"),
      col("country"),
      expr("cast(quantity * unit_price as decimal(18, 3))").alias("line_amount"),
      isCancellation.alias("is_cancellation"),
      isAdjustment.alias("is_adjustment"),
      col("customer_id_text").isNotNull.alias("has_customer"),
      (!isCancellation && !isAdjustment && !isServiceCode &&
        (col("quantity") > 0) && (col("unit_price") > 0)).alias("is_sales_line"),
      to_date(col("invoiced_at")).alias("invoice_date"),
      expr("cast(date_format(invoiced_at, 'yyyyMM') as int)").alias("year_month"),
      col("invoiced_at")
    )
  }

  /** raw rows = staged rows + removed duplicates + quarantined rows (DEFINITIONS §2). */
  def stagingCounts(rows: DataFrame): DataFrame = {
    val readable = col("quarantine_reason").isNull
    rows.agg(
      sum("copies").alias("raw_rows"),
      count_if(readable).cast("bigint").alias("staged_rows"),
      coalesce(sum(when(readable, col("copies") - 1)), lit(0))
        .cast("bigint")
        .alias("removed_duplicates"),
      coalesce(sum(when(!readable, col("copies"))), lit(0))
        .cast("bigint")
        .alias("quarantined_rows")
    )
  }

  // ------------------------------------------------------------------------- monthly marts

  def monthSpine(transactions: DataFrame): DataFrame = {
    val bounds = transactions.agg(
      min("invoice_date").alias("first_date"),
      max("invoice_date").alias("last_date")
    )
    val months = bounds.select(
      col("last_date"),
      explode(
        expr(
          "sequence(cast(trunc(first_date, 'MM') as date), " +
            "cast(trunc(last_date, 'MM') as date), interval 1 month)"
        )
      ).alias("month_start")
    )
    months.select(
      expr("cast(date_format(month_start, 'yyyyMM') as int)").alias("year_month"),
      ((col("month_start") === trunc(col("last_date"), "MM")) &&
        (col("last_date") < last_day(col("month_start")))).alias("is_partial_month"),
      col("month_start")
    )
  }

  def onSpine(spine: DataFrame, monthly: DataFrame): DataFrame =
    broadcast(spine).join(monthly, Seq("year_month"), "left")

  def zero(column: String): Column = coalesce(col(column), lit(0)).cast("bigint")

  def sharePct(part: String, whole: String): Column =
    when(col(whole) > 0, col(part) / col(whole) * 100).cast("double")

  /** `macros/growth_pct.sql`: null when there is no previous value or it is 0. */
  def growthPct(current: Column, previous: Column): Column = {
    val prior = previous.cast("double")
    when(previous.isNull || previous === 0, lit(null))
      .otherwise((current.cast("double") - prior) / prior * 100)
  }

  def monthlySales(spine: DataFrame, salesLines: DataFrame): DataFrame = {
    val monthly = salesLines
      .groupBy("year_month")
      .agg(sum("line_amount").alias("sales_amount"), count(lit(1)).alias("sales_lines"))
    val spined = onSpine(spine, monthly).select(
      col("year_month"),
      coalesce(col("sales_amount"), lit(0)).cast("decimal(20,3)").alias("sales_amount"),
      zero("sales_lines").alias("sales_lines"),
      col("is_partial_month"),
      col("month_start")
    )
    val withPrevious = spined.withColumn(
      "previous_sales_amount",
      lag("sales_amount", 1).over(Window.orderBy("year_month"))
    )
    withPrevious.select(
      col("year_month").cast("int"),
      col("sales_amount"),
      col("previous_sales_amount").cast("decimal(20,3)"),
      growthPct(col("sales_amount"), col("previous_sales_amount"))
        .cast("double")
        .alias("sales_growth_pct"),
      col("sales_lines"),
      col("is_partial_month"),
      col("month_start")
    )
  }

  def monthlyOrders(spine: DataFrame, transactions: DataFrame): DataFrame = {
    val placed = when(!col("is_cancellation") && !col("is_adjustment"), col("invoice_id"))
    val cancelled = when(col("is_cancellation"), col("invoice_id"))
    val monthly = transactions
      .groupBy("year_month")
      .agg(
        count_distinct(placed).alias("placed_orders"),
        count_distinct(cancelled).alias("cancelled_orders")
      )
    onSpine(spine, monthly).select(
      col("year_month").cast("int"),
      zero("placed_orders").alias("placed_orders"),
      zero("cancelled_orders").alias("cancelled_orders"),
      sharePct("cancelled_orders", "placed_orders").alias("cancellation_rate_pct"),
      col("is_partial_month"),
      col("month_start")
    )
  }

  def customerMonths(salesLines: DataFrame): DataFrame = {
    val active = salesLines.where("has_customer").select("customer_id", "year_month").distinct()
    val first = min("year_month").over(Window.partitionBy("customer_id"))
    active.select(
      col("customer_id"),
      col("year_month"),
      (col("year_month") === first).alias("is_first_month")
    )
  }

  def monthlyActiveUsers(spine: DataFrame, months: DataFrame): DataFrame = {
    val monthly = months.groupBy("year_month").agg(count(lit(1)).alias("active_users"))
    onSpine(spine, monthly).select(
      col("year_month").cast("int"),
      zero("active_users").alias("active_users"),
      col("is_partial_month"),
      col("month_start")
    )
  }

  def monthlyNewExistingUsers(spine: DataFrame, months: DataFrame): DataFrame = {
    val monthly = months
      .groupBy("year_month")
      .agg(
        count_if(col("is_first_month")).alias("new_users"),
        count_if(!col("is_first_month")).alias("existing_users"),
        count(lit(1)).alias("active_users")
      )
    onSpine(spine, monthly).select(
      col("year_month").cast("int"),
      zero("new_users").alias("new_users"),
      zero("existing_users").alias("existing_users"),
      zero("active_users").alias("active_users"),
      sharePct("new_users", "active_users").alias("new_user_share_pct"),
      col("is_partial_month"),
      col("month_start")
    )
  }

  // ------------------------------------------------------------------------- RFM (§4)

  def quintileEdges(column: String): Column = expr(s"percentile(`$column`, $QuintilePercentages)")

  /** 1–5: one plus the number of edges strictly below `value` (qcut's right-closed bins). */
  def quintileBin(value: Column, edges: Column): Column =
    (lit(1) + size(filter(edges, edge => value > edge))).cast("int")

  def customerRfmScores(
      salesLines: DataFrame,
      segmentMap: DataFrame,
      referenceDate: Option[String]
  ): DataFrame = {
    val customers = salesLines
      .where(col("customer_id").isNotNull)
      .groupBy("customer_id")
      .agg(
        max("invoice_date").alias("last_purchase_date"),
        count_distinct(col("invoice_id")).alias("frequency"),
        sum("line_amount").cast("decimal(18,3)").alias("monetary")
      )
    val referenced = referenceDate match {
      case None =>
        val reference =
          customers.agg(date_add(max("last_purchase_date"), 1).alias("reference_date"))
        customers.crossJoin(broadcast(reference))
      case Some(date) =>
        customers.withColumn("reference_date", lit(java.sql.Date.valueOf(date)))
    }
    val metrics = referenced.select(
      col("customer_id"),
      datediff(col("reference_date"), col("last_purchase_date")).alias("recency_days"),
      col("frequency"),
      col("monetary"),
      row_number()
        .over(Window.orderBy("frequency", "customer_id"))
        .cast("bigint")
        .alias("frequency_rank"),
      col("last_purchase_date"),
      col("reference_date")
    )
    val edges = metrics.agg(
      quintileEdges("recency_days").alias("recency_edges"),
      quintileEdges("frequency_rank").alias("frequency_rank_edges"),
      quintileEdges("monetary").alias("monetary_edges")
    )
    val scored = metrics
      .crossJoin(broadcast(edges))
      .select(
        metrics.columns.map(col).toSeq ++ Seq(
          (lit(6) - quintileBin(col("recency_days"), col("recency_edges")))
            .cast("int")
            .alias("r_score"),
          quintileBin(col("frequency_rank"), col("frequency_rank_edges")).alias("f_score"),
          quintileBin(col("monetary"), col("monetary_edges")).alias("m_score")
        ): _*
      )
      .withColumn(
        "rfm_score",
        concat(
          col("r_score").cast("string"),
          col("f_score").cast("string"),
          col("m_score").cast("string")
        )
      )
    val segments = segmentMap.select(
      col("r_score").cast("int").alias("r_score"),
      col("f_score").cast("int").alias("f_score"),
      col("segment").cast("string").alias("segment")
    )
    scored
      .join(broadcast(segments), Seq("r_score", "f_score"), "left")
      .select(
        col("customer_id").cast("string").alias("customer_id"),
        col("segment"),
        col("rfm_score"),
        col("recency_days").cast("int").alias("recency_days"),
        col("frequency").cast("bigint").alias("frequency"),
        col("monetary"),
        col("frequency_rank"),
        col("r_score"),
        col("f_score"),
        col("m_score"),
        col("last_purchase_date"),
        col("reference_date")
      )
  }

  def segmentSummary(scores: DataFrame, segments: DataFrame): DataFrame = {
    def share(part: Column, total: Column): Column =
      when(total > 0, part.cast("double") / total.cast("double") * 100)
    val perSegment = scores
      .groupBy("segment")
      .agg(
        count("*").alias("customers"),
        sum("monetary").alias("revenue"),
        avg("recency_days").alias("avg_recency_days"),
        avg("frequency").alias("avg_frequency"),
        (sum("monetary").cast("double") / count("*")).alias("avg_monetary")
      )
    val totals = scores.agg(count("*").alias("total_customers"), sum("monetary").alias("total_revenue"))
    val catalogue = segments.select(
      col("segment").cast("string").alias("segment"),
      col("segment_rank").cast("int").alias("segment_rank"),
      col("description").cast("string").alias("description")
    )
    val joined = catalogue.join(perSegment, Seq("segment"), "left").crossJoin(broadcast(totals))
    val customers = coalesce(col("customers"), lit(0)).cast("bigint")
    val revenue = coalesce(col("revenue"), lit(0)).cast("decimal(18,3)")
    joined.select(
      col("segment"),
      col("segment_rank"),
      col("description"),
      customers.alias("customers"),
      share(customers, col("total_customers")).alias("customer_share_pct"),
      revenue.alias("revenue"),
      share(revenue, col("total_revenue")).alias("revenue_share_pct"),
      col("avg_recency_days").cast("double").alias("avg_recency_days"),
      col("avg_frequency").cast("double").alias("avg_frequency"),
      col("avg_monetary").cast("double").alias("avg_monetary")
    )
  }

  // ------------------------------------------------------------------------- invoices (§5)

  def invoiceAmounts(salesLines: DataFrame, percentile: Double): DataFrame = {
    val invoices = salesLines
      .groupBy("invoice_id")
      .agg(
        min("customer_id").alias("customer_id"),
        min("country").alias("country"),
        sum("line_amount").cast("decimal(18,3)").alias("invoice_amount"),
        count("*").alias("line_count"),
        min("invoice_date").alias("invoice_date"),
        min("invoiced_at").alias("invoiced_at")
      )
    val threshold =
      invoices.agg(expr(s"percentile(invoice_amount, $percentile)").alias("outlier_threshold"))
    invoices
      .crossJoin(broadcast(threshold))
      .select(
        col("invoice_id"),
        col("customer_id"),
        col("country"),
        col("invoice_amount"),
        col("line_count").cast("bigint").alias("line_count"),
        (col("invoice_amount") > col("outlier_threshold")).alias("is_outlier"),
        col("outlier_threshold").cast("double").alias("outlier_threshold"),
        col("invoice_date"),
        col("invoiced_at")
      )
  }

  def amountDistribution(amounts: DataFrame, percentile: Double): DataFrame = {
    val everything = amounts.select(lit(Populations(0)).alias("population"), col("invoice_amount"))
    val kept = amounts
      .where(!col("is_outlier"))
      .select(lit(Populations(1)).alias("population"), col("invoice_amount"))
    val populations = everything.unionByName(kept)
    val statistics = populations
      .groupBy("population")
      .agg(
        count("*").alias("invoice_count"),
        min("invoice_amount").cast("double").alias("min_amount"),
        max("invoice_amount").cast("double").alias("max_amount"),
        (sum("invoice_amount").cast("double") / count("*")).alias("mean_amount"),
        expr("percentile(invoice_amount, 0.5)").alias("median_amount"),
        expr(s"percentile(invoice_amount, $percentile)").alias("p85_amount")
      )
    val mostFrequentFirst =
      Window.partitionBy("population").orderBy(desc("count"), asc("invoice_amount"))
    val modes = populations
      .groupBy("population", "invoice_amount")
      .count()
      .withColumn("position", row_number().over(mostFrequentFirst))
      .where(col("position") === 1)
      .select(col("population"), col("invoice_amount").cast("double").alias("mode_amount"))
    val names = amounts.sparkSession
      .range(1)
      .select(explode(array(Populations.map(lit): _*)).alias("population"))
    names
      .join(statistics, Seq("population"), "left")
      .join(modes, Seq("population"), "left")
      .select(
        col("population"),
        coalesce(col("invoice_count"), lit(0)).cast("bigint").alias("invoice_count"),
        col("min_amount"),
        col("max_amount"),
        col("mean_amount"),
        col("median_amount").cast("double").alias("median_amount"),
        col("mode_amount"),
        col("p85_amount").cast("double").alias("p85_amount"),
        lit(percentile).cast("double").alias("percentile")
      )
  }

  def edge(index: Column): Column = index.cast("double") * col("width") + col("lower")

  def amountHistogram(amounts: DataFrame, bins: Int): DataFrame = {
    val kept = amounts
      .where(!col("is_outlier"))
      .select(col("invoice_amount").cast("double").alias("amount"), col("outlier_threshold"))
    val bounds = kept
      .agg(
        min("amount").alias("lower"),
        max("outlier_threshold").alias("upper"),
        count("*").alias("total")
      )
      .select(
        col("lower"),
        col("upper"),
        col("total"),
        ((col("upper") - col("lower")) / lit(bins.toDouble)).alias("width")
      )
    val last = lit(bins - 1)
    // A first guess by division, corrected by comparing with the edges themselves (as
    // numpy does), so that every amount lands in the bin whose published edges contain it.
    val quotient = floor((col("amount") - col("lower")) / col("width"))
    val guess = least(greatest(quotient, lit(0)), last).cast("int")
    val below = when(col("amount") < edge(col("guess")), col("guess") - 1).otherwise(col("guess"))
    val above = when(
      (col("below") < last) && (col("amount") >= edge(col("below") + 1)),
      col("below") + 1
    ).otherwise(col("below"))
    val located = kept
      .crossJoin(broadcast(bounds))
      .withColumn("guess", when(col("width") > 0, guess).otherwise(lit(0)))
      .withColumn("below", below)
      .withColumn("bin", when(col("width") > 0, above).otherwise(lit(0)))
    val counts = located.groupBy("bin").agg(count("*").alias("invoice_count"))
    val allBins = bounds
      .where(col("total") > 0)
      .select(col("*"), explode(sequence(lit(0), last)).alias("bin"))
    val invoiceCount = coalesce(col("invoice_count"), lit(0)).cast("bigint")
    allBins
      .join(counts, Seq("bin"), "left")
      .select(
        (col("bin") + 1).cast("int").alias("bin_index"),
        edge(col("bin")).alias("bin_lower"),
        when(col("bin") === last, col("upper"))
          .otherwise(edge(col("bin") + 1))
          .cast("double")
          .alias("bin_upper"),
        invoiceCount.alias("invoice_count"),
        (invoiceCount.cast("double") / col("total") * 100).alias("share_pct")
      )
  }

  // ------------------------------------------------------------------------- the job

  /** The marts of DEFINITIONS §2–§5 and the staging balance, in the plain script's order. */
  def marts(spark: SparkSession, settings: Settings): Seq[(String, DataFrame)] = {
    val isServiceCode = serviceCodeFilter(spark, settings.seeds)
    val rows = stagedRows(readRaw(spark, settings), isServiceCode).persist(StorageLevel.MEMORY_AND_DISK)
    val transactions = rows.where(col("quarantine_reason").isNull)
    val salesLines = transactions.where("is_sales_line")
    val spine = monthSpine(transactions).persist()
    val months = customerMonths(salesLines).persist()
    val segmentMap = readSeed(spark, settings.seeds, "rfm_segment_map")
    val segments = readSeed(spark, settings.seeds, "rfm_segments")
    val scores = customerRfmScores(salesLines, segmentMap, settings.referenceDate).persist()
    val amounts = invoiceAmounts(salesLines, settings.percentile).persist()
    Seq(
      "staging_counts" -> stagingCounts(rows),
      "monthly_sales" -> monthlySales(spine, salesLines),
      "monthly_orders" -> monthlyOrders(spine, transactions),
      "monthly_active_users" -> monthlyActiveUsers(spine, months),
      "monthly_new_existing_users" -> monthlyNewExistingUsers(spine, months),
      "customer_rfm_scores" -> scores,
      "rfm_segment_summary" -> segmentSummary(scores, segments),
      "invoice_amounts" -> amounts,
      "invoice_amount_distribution" -> amountDistribution(amounts, settings.percentile),
      "invoice_amount_histogram" -> amountHistogram(amounts, settings.bins)
    )
  }

  private def seconds(since: Long): String =
    "%.3f".formatLocal(java.util.Locale.ROOT, (System.nanoTime() - since) / 1e9)

  def main(args: Array[String]): Unit = {
    val started = System.nanoTime()
    val settings = parseArgs(args)
    val spark = SparkSession.builder().appName("lgs-scala-spec-marts").getOrCreate()
    val sessionS = seconds(started)
    Files.createDirectories(Paths.get(settings.out))
    val computeStarted = System.nanoTime()
    val tables = mutable.ArrayBuffer[String]()
    for ((name, frame) <- marts(spark, settings)) {
      val tableStarted = System.nanoTime()
      frame.write.mode("overwrite").parquet(Paths.get(settings.out, name).toString)
      tables += s"""    "$name": ${seconds(tableStarted)}"""
    }
    val computeS = seconds(computeStarted)
    spark.stop()
    val json =
      s"""{
         |  "marts": "spec",
         |  "engine": "scala",
         |  "scala_version": "${scala.util.Properties.versionNumberString}",
         |  "session_start_s": $sessionS,
         |  "compute_s": $computeS,
         |  "tables_s": {
         |${tables.mkString(",\n")}
         |  },
         |  "total_s": ${seconds(started)}
         |}
         |""".stripMargin
    Files.write(Paths.get(settings.out, "_timings.json"), json.getBytes(StandardCharsets.UTF_8))
    println(json.replaceAll("\\s+", " ").trim)
  }
}
