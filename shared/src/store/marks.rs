//! An integration's freshness marks, all entities on one item (`sk = CHECKPOINT`): per entity the
//! pull's high-water mark (never backwards), when its last pull and push ended, and the newest
//! provider change a pull has seen (never backwards) with when it reached the feed.
//!
//! A job gathers the marks of its phases in its checkpoint ([`Marks`]) and writes them at the
//! end of its slice in one `UpdateItem`. With an item per entity, an hourly job of four entities
//! wrote eight items (a pull mark and a push time each; bench/cost).
//!
//! Items of the earlier layout, `CHECKPOINT#<entity>`, are read while the marks item does not
//! exist, and copied into it by the write that creates it (never over a newer mark); they are
//! never written again.

use super::item::{get_s, s, Item};
use super::jobs::integration_pk;
use super::records::{parse_ts, rfc3339};
use super::{written, Db, StoreError};
use crate::domain::Entity;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The sort key of the marks item.
const SK: &str = "CHECKPOINT";

/// The sort key of an entity's item in the earlier layout.
fn legacy_sk(e: Entity) -> String {
    format!("CHECKPOINT#{e}")
}

/// The marks of one entity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityMarks {
    /// The pull's high-water mark: the next incremental pull asks for changes after it (less
    /// the overlap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_water: Option<DateTime<Utc>>,
    /// When the last pull ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pull_at: Option<DateTime<Utc>>,
    /// When the last push ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_push_at: Option<DateTime<Utc>>,
    /// The provider's time of the newest change a pull has seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_change_at: Option<DateTime<Utc>>,
    /// When that change reached the feed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_pulled_at: Option<DateTime<Utc>>,
}

/// The field names of [`EntityMarks`], as the attributes are named (`<entity>_<field>`).
const FIELDS: [&str; 5] = [
    "high_water",
    "last_pull_at",
    "last_push_at",
    "newest_change_at",
    "newest_pulled_at",
];

impl EntityMarks {
    fn get(&self, field: &str) -> Option<DateTime<Utc>> {
        match field {
            "high_water" => self.high_water,
            "last_pull_at" => self.last_pull_at,
            "last_push_at" => self.last_push_at,
            "newest_change_at" => self.newest_change_at,
            "newest_pulled_at" => self.newest_pulled_at,
            _ => None,
        }
    }

    /// Reads the marks of `e` from an item: `<entity>_<field>` attributes, or the bare field
    /// names of an item of the earlier layout (`prefix` empty).
    fn from_item(it: &Item, prefix: &str) -> Self {
        let at = |f: &str| parse_ts(get_s(it, &format!("{prefix}{f}")));
        EntityMarks {
            high_water: at("high_water"),
            last_pull_at: at("last_pull_at"),
            last_push_at: at("last_push_at"),
            newest_change_at: at("newest_change_at"),
            newest_pulled_at: at("newest_pulled_at"),
        }
    }

    fn is_empty(&self) -> bool {
        *self == EntityMarks::default()
    }
}

/// The marks a job gathered and has not written yet, by entity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Marks(pub BTreeMap<Entity, EntityMarks>);

impl Marks {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A pull of `e` ended at `now` with the high-water mark `high_water`, having seen changes
    /// up to `newest`.
    pub fn pulled(
        &mut self,
        e: Entity,
        high_water: DateTime<Utc>,
        newest: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        let m = self.0.entry(e).or_default();
        m.high_water = m.high_water.max(Some(high_water));
        m.last_pull_at = Some(now);
        if let Some(at) = newest {
            self.change_seen(e, at, now);
        }
    }

    /// A provider change made at `at` reached the feed at `now` (the newest wins).
    pub fn change_seen(&mut self, e: Entity, at: DateTime<Utc>, now: DateTime<Utc>) {
        let m = self.0.entry(e).or_default();
        if m.newest_change_at.is_none_or(|n| n < at) {
            m.newest_change_at = Some(at);
            m.newest_pulled_at = Some(now);
        }
    }

    /// A push of `e` ended at `now`.
    pub fn pushed(&mut self, e: Entity, now: DateTime<Utc>) {
        self.0.entry(e).or_default().last_push_at = Some(now);
    }

    /// Leaves out what would move a stored mark backwards: a high-water mark below the stored
    /// one, a newest change not newer than the stored one (with its arrival time).
    fn not_behind(&self, stored: &BTreeMap<Entity, EntityMarks>) -> Marks {
        let mut out = self.clone();
        for (e, m) in &mut out.0 {
            let Some(old) = stored.get(e) else { continue };
            if old.high_water.is_some() && m.high_water < old.high_water {
                m.high_water = None;
            }
            if old.newest_change_at.is_some() && m.newest_change_at <= old.newest_change_at {
                m.newest_change_at = None;
                m.newest_pulled_at = None;
            }
        }
        out.0.retain(|_, m| !m.is_empty());
        out
    }

    /// The update expression, its condition (no mark moves backwards) and their names and
    /// values.
    fn update(&self) -> Update {
        let mut u = Update::default();
        for (e, m) in &self.0 {
            for f in FIELDS {
                let Some(v) = m.get(f) else { continue };
                let (name, value) = (format!("#{e}_{f}"), format!(":{e}_{f}"));
                u.sets.push(format!("{name} = {value}"));
                match f {
                    "high_water" => u.conditions.push(format!(
                        "(attribute_not_exists({name}) OR {name} <= {value})"
                    )),
                    "newest_change_at" => u.conditions.push(format!(
                        "(attribute_not_exists({name}) OR {name} < {value})"
                    )),
                    _ => {}
                }
                u.names.push((name, format!("{e}_{f}")));
                u.values.push((value, rfc3339(v)));
            }
        }
        u
    }
}

/// One `UpdateItem`'s parts.
#[derive(Debug, Default)]
struct Update {
    sets: Vec<String>,
    conditions: Vec<String>,
    names: Vec<(String, String)>,
    values: Vec<(String, String)>,
}

/// How often a write of marks is tried again after another writer moved a mark on.
const ATTEMPTS: usize = 3;

impl Db {
    /// Every entity's marks, from the marks item, or while there is none, from the items of the
    /// earlier layout.
    pub async fn marks(
        &self,
        integration_id: &str,
    ) -> Result<BTreeMap<Entity, EntityMarks>, StoreError> {
        match self.marks_item(integration_id).await? {
            Some(it) => Ok(parse(&it)),
            None => self.legacy_marks(integration_id).await,
        }
    }

    /// The marks of the earlier layout, an item per entity.
    async fn legacy_marks(
        &self,
        integration_id: &str,
    ) -> Result<BTreeMap<Entity, EntityMarks>, StoreError> {
        let sks: Vec<String> = Entity::ALL.into_iter().map(legacy_sk).collect();
        let legacy = self.get_many(integration_id, &sks).await?;
        Ok(Entity::ALL
            .into_iter()
            .filter_map(|e| {
                legacy
                    .get(&legacy_sk(e))
                    .map(|it| (e, EntityMarks::from_item(it, "")))
            })
            .collect())
    }

    /// Writes the marks a job gathered, in one `UpdateItem`. A mark another writer already
    /// moved further on stays as it is.
    pub async fn record_marks(
        &self,
        integration_id: &str,
        marks: &Marks,
    ) -> Result<(), StoreError> {
        let mut marks = marks.clone();
        for _ in 0..ATTEMPTS {
            if marks.is_empty() {
                return Ok(());
            }
            let u = marks.update();
            let mut req = self.marks_update(integration_id, &u.sets, &u);
            if !u.conditions.is_empty() {
                req = req.condition_expression(u.conditions.join(" AND "));
            }
            let res = req.return_values(ReturnValue::AllOld).send().await;
            let created = res
                .as_ref()
                .is_ok_and(|out| out.attributes().is_none_or(|a| a.is_empty()));
            if written(res)? {
                if created {
                    // The first write of the marks item: the earlier layout's marks move in.
                    self.adopt_legacy_marks(integration_id).await?;
                }
                return Ok(());
            }
            // Some mark is behind the stored one: leave those out and write the rest.
            let stored = self
                .marks_item(integration_id)
                .await?
                .map(|it| parse(&it))
                .unwrap_or_default();
            marks = marks.not_behind(&stored);
        }
        Err(StoreError::Conflict(
            "the freshness marks kept changing underneath".into(),
        ))
    }

    /// Copies the earlier layout's marks into the marks item, under any newer mark already there.
    async fn adopt_legacy_marks(&self, integration_id: &str) -> Result<(), StoreError> {
        let legacy = self.legacy_marks(integration_id).await?;
        let u = Marks(legacy).update();
        if u.sets.is_empty() {
            return Ok(());
        }
        let sets: Vec<String> = u
            .names
            .iter()
            .zip(&u.values)
            .map(|((name, _), (value, _))| format!("{name} = if_not_exists({name}, {value})"))
            .collect();
        self.marks_update(integration_id, &sets, &u)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(())
    }

    /// An `UpdateItem` of the marks item: `SET` these assignments, with the update's names and
    /// values.
    fn marks_update(
        &self,
        integration_id: &str,
        sets: &[String],
        u: &Update,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let mut req = self
            .client()
            .update_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(SK))
            .update_expression(format!("SET {}", sets.join(", ")));
        for (k, v) in &u.names {
            req = req.expression_attribute_names(k, v);
        }
        for (k, v) in &u.values {
            req = req.expression_attribute_values(k, s(v));
        }
        req
    }

    async fn marks_item(&self, integration_id: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.table())
            .key("pk", s(integration_pk(integration_id)))
            .key("sk", s(SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::dynamo)?;
        Ok(out.item().cloned())
    }
}

/// Every entity's marks on the marks item.
fn parse(it: &Item) -> BTreeMap<Entity, EntityMarks> {
    Entity::ALL
        .into_iter()
        .map(|e| (e, EntityMarks::from_item(it, &format!("{e}_"))))
        .filter(|(_, m)| !m.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_job_gathers_its_phases_marks_and_keeps_the_newest() {
        let mut m = Marks::default();
        m.pushed(Entity::Customers, t(1));
        m.pulled(Entity::Customers, t(5), Some(t(3)), t(6));
        m.change_seen(Entity::Customers, t(2), t(7)); // older than the one seen
        m.pulled(Entity::Invoices, t(5), None, t(8));
        let c = &m.0[&Entity::Customers];
        assert_eq!(c.high_water, Some(t(5)));
        assert_eq!(c.last_push_at, Some(t(1)));
        assert_eq!(c.last_pull_at, Some(t(6)));
        assert_eq!(
            (c.newest_change_at, c.newest_pulled_at),
            (Some(t(3)), Some(t(6)))
        );
        assert_eq!(m.0[&Entity::Invoices].newest_change_at, None);
        // It survives the job's checkpoint.
        let back: Marks = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn one_update_sets_every_mark_and_guards_the_two_that_never_go_back() {
        let mut m = Marks::default();
        m.pulled(Entity::Customers, t(5), Some(t(3)), t(6));
        m.pushed(Entity::Invoices, t(7));
        let u = m.update();
        assert_eq!(u.sets.len(), 5, "{:?}", u.sets);
        assert_eq!(
            u.conditions,
            vec![
                "(attribute_not_exists(#customers_high_water) OR #customers_high_water <= :customers_high_water)",
                "(attribute_not_exists(#customers_newest_change_at) OR #customers_newest_change_at < :customers_newest_change_at)",
            ]
        );
        assert!(u.names.contains(&(
            "#invoices_last_push_at".into(),
            "invoices_last_push_at".into()
        )));
    }

    #[test]
    fn marks_behind_the_stored_ones_are_left_out() {
        let mut m = Marks::default();
        m.pulled(Entity::Customers, t(5), Some(t(3)), t(6));
        m.pulled(Entity::Invoices, t(5), Some(t(3)), t(6));
        let stored = BTreeMap::from([(
            Entity::Customers,
            EntityMarks {
                high_water: Some(t(9)),
                newest_change_at: Some(t(3)),
                ..Default::default()
            },
        )]);
        let kept = m.not_behind(&stored);
        let c = &kept.0[&Entity::Customers];
        assert_eq!(c.high_water, None);
        assert_eq!(c.newest_change_at, None);
        assert_eq!(c.newest_pulled_at, None);
        assert_eq!(c.last_pull_at, Some(t(6)), "the pull did end");
        assert_eq!(kept.0[&Entity::Invoices], m.0[&Entity::Invoices]);
    }
}
