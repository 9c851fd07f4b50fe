/*
 * Kafka record values as text, tagged with the partition they were read from: "<partition>\t<value>".
 *
 * Why: the collector must know which partition an event came from. Each partition is an ordered stream, and
 * the collector's event guard tracks event-time progress per partition, so that a partition read behind
 * the others (a backlog is read in alternating chunks per partition) holds the watermark back instead of
 * having its events judged late. This deserializer runs in the Kafka source, in the JVM, before any Python
 * operator, and never throws: a record without a value (a tombstone) becomes the given marker text, which
 * every decoder dead-letters with a reason, and bytes that are not UTF-8 read as U+FFFD.
 */
package io.rtcef.kafka;

import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.util.Collector;

public final class PartitionTaggedValues implements KafkaRecordDeserializationSchema<String> {
  private static final long serialVersionUID = 1L;

  private final String tombstone;

  public PartitionTaggedValues(String tombstone) {
    this.tombstone = tombstone;
  }

  @Override
  public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<String> out) {
    byte[] value = record.value();
    String text = value == null ? tombstone : new String(value, StandardCharsets.UTF_8);
    out.collect(record.partition() + "\t" + text);
  }

  @Override
  public TypeInformation<String> getProducedType() {
    return Types.STRING;
  }
}
