//! An accounting system in memory behind [`AccountingApi`], with scripted faults: each call
//! takes the next [`Fault`] of the script. It keeps our reference on every record (in the clear,
//! as Fortnox does), counts every committed create by that reference, and creates invoices in
//! two steps (the second is what [`AccountingApi::complete_invoice`] finishes), so tests can tell
//! exactly-once creation and completion apart from luck.

use crate::domain::{Article, Customer, Entity, Invoice, Project, ProviderKind};

mod catalog;
use crate::http::ApiError;
use crate::providers::api::{AccountingApi, ApiAuth, IdPage, Page, Remote, Unreadable};
use crate::providers::CompanyInfo;
use crate::sync::SyncRecord;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// What goes wrong with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing.
    None,
    /// Refused before anything was written (`Retryable`).
    Fail,
    /// A write committed, then the answer was lost: `Ambiguous` for a create (an invoice's
    /// create stops after its first step), `Retryable` for anything else.
    AfterCommit,
    /// No answer and nothing written: `Ambiguous` for a create, `Retryable` for anything else.
    Timeout,
    /// Writes only: the provider refuses the content (`InvalidData` naming the field `name`).
    Refuse,
    /// Creates only: no answer (`Ambiguous`), and the create is applied later, when the test
    /// calls [`FakeApi::commit_late`] (a provider still processing a request its caller gave up
    /// on).
    Late,
}

/// A create held back by [`Fault::Late`].
type LateCommit = Box<dyn FnOnce(&mut State) + Send>;

/// One record at the fake provider.
#[derive(Debug, Clone)]
struct Entry<T> {
    record: T,
    our_ref: Option<String>,
    modified_at: DateTime<Utc>,
    customer_remote_id: Option<String>,
    complete: bool,
}

#[derive(Default)]
struct State {
    customers: BTreeMap<String, Entry<Customer>>,
    invoices: BTreeMap<String, Entry<Invoice>>,
    articles: BTreeMap<String, Entry<Article>>,
    projects: BTreeMap<String, Entry<Project>>,
    next_id: u64,
    clock: Option<DateTime<Utc>>,
    faults: VecDeque<Fault>,
    calls: Vec<String>,
    creates: HashMap<(Entity, String), u32>,
    late: Vec<LateCommit>,
    /// Provider ids whose records the client cannot read.
    unreadable: std::collections::HashSet<String>,
    /// Records come without a modification time, as Fortnox's do.
    undated: bool,
}

impl State {
    /// The provider's clock: real time, strictly increasing (by a nanosecond when two writes
    /// fall on the same instant), so it never runs ahead of the app's clock.
    fn tick(&mut self) -> DateTime<Utc> {
        let now = Utc::now();
        let t = match self.clock {
            Some(last) if last >= now => last + chrono::Duration::nanoseconds(1),
            _ => now,
        };
        self.clock = Some(t);
        t
    }
}

/// Picks the table of a record type.
trait Tabled: SyncRecord + 'static {
    fn table(s: &mut State) -> &mut BTreeMap<String, Entry<Self>>;
    fn prefix() -> &'static str;
}

impl Tabled for Customer {
    fn table(s: &mut State) -> &mut BTreeMap<String, Entry<Self>> {
        &mut s.customers
    }
    fn prefix() -> &'static str {
        "C"
    }
}

impl Tabled for Invoice {
    fn table(s: &mut State) -> &mut BTreeMap<String, Entry<Self>> {
        &mut s.invoices
    }
    fn prefix() -> &'static str {
        "I"
    }
}

impl Tabled for Article {
    fn table(s: &mut State) -> &mut BTreeMap<String, Entry<Self>> {
        &mut s.articles
    }
    fn prefix() -> &'static str {
        "A"
    }
}

impl Tabled for Project {
    fn table(s: &mut State) -> &mut BTreeMap<String, Entry<Self>> {
        &mut s.projects
    }
    fn prefix() -> &'static str {
        "P"
    }
}

fn remote<T: Clone>(remote_id: &str, e: &Entry<T>, undated: bool) -> Remote<T> {
    Remote {
        remote_id: remote_id.to_string(),
        record: e.record.clone(),
        our_reference: e.our_ref.clone(),
        modified_at: (!undated).then_some(e.modified_at),
        customer_remote_id: e.customer_remote_id.clone(),
        editable: true,
    }
}

fn retryable(what: &str) -> ApiError {
    ApiError::Retryable {
        message: format!("injected fault: {what}"),
    }
}

/// The fake accounting system.
pub struct FakeApi {
    state: Mutex<State>,
    page_size: usize,
    stats: crate::http::outbound::Stats,
}

impl Default for FakeApi {
    fn default() -> Self {
        Self::new(2)
    }
}

impl FakeApi {
    /// An empty provider listing `page_size` records a page.
    pub fn new(page_size: usize) -> Self {
        FakeApi {
            state: Mutex::new(State::default()),
            page_size: page_size.max(1),
            stats: Default::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs a call and takes its fault.
    fn call(&self, what: String) -> (MutexGuard<'_, State>, Fault) {
        let mut s = self.lock();
        let f = s.faults.pop_front().unwrap_or(Fault::None);
        s.calls.push(what);
        (s, f)
    }

    /// From now on records come without a modification time, as Fortnox's do.
    pub fn undated(&self) {
        self.lock().undated = true;
    }

    /// Appends faults to the script.
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.lock().faults.extend(faults);
    }

    /// Makes the record `remote_id` unreadable (`true`) or readable again (`false`): listed
    /// among a page's unreadable records, and `Unexpected` when read alone.
    pub fn set_unreadable(&self, remote_id: &str, unreadable: bool) {
        let mut s = self.lock();
        if unreadable {
            s.unreadable.insert(remote_id.to_string());
        } else {
            s.unreadable.remove(remote_id);
        }
    }

    /// Applies the creates held back by [`Fault::Late`].
    pub fn commit_late(&self) {
        let mut s = self.lock();
        for commit in std::mem::take(&mut s.late) {
            commit(&mut s);
        }
    }

    /// Faults of the script not used yet.
    pub fn faults_left(&self) -> usize {
        self.lock().faults.len()
    }

    /// Every call so far (`"create customers c1"`, `"find invoices i1"`, `"list customers"`, …).
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// How many creates of our record `our_id` committed.
    pub fn creates(&self, e: Entity, our_id: &str) -> u32 {
        self.lock()
            .creates
            .get(&(e, our_id.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Every customer: (provider id, record, our reference).
    pub fn customers(&self) -> Vec<(String, Customer, Option<String>)> {
        let s = self.lock();
        s.customers
            .iter()
            .map(|(k, e)| (k.clone(), e.record.clone(), e.our_ref.clone()))
            .collect()
    }

    /// Every invoice: (provider id, record, our reference, whether its create completed).
    pub fn invoices(&self) -> Vec<(String, Invoice, Option<String>, bool)> {
        let s = self.lock();
        s.invoices
            .iter()
            .map(|(k, e)| (k.clone(), e.record.clone(), e.our_ref.clone(), e.complete))
            .collect()
    }

    /// Puts a customer there as if someone (or a lost create of ours) had made it.
    pub fn insert_customer(&self, c: Customer, our_ref: Option<&str>, at: DateTime<Utc>) -> String {
        let mut s = self.lock();
        s.next_id += 1;
        let id = format!("C{:04}", s.next_id);
        s.customers.insert(
            id.clone(),
            Entry {
                record: c,
                our_ref: our_ref.map(str::to_string),
                modified_at: at,
                customer_remote_id: None,
                complete: true,
            },
        );
        id
    }

    /// Changes a customer as a person at the provider would, at `at`.
    pub fn modify_customer(
        &self,
        remote_id: &str,
        at: DateTime<Utc>,
        f: impl FnOnce(&mut Customer),
    ) {
        let mut s = self.lock();
        if let Some(e) = s.customers.get_mut(remote_id) {
            f(&mut e.record);
            e.modified_at = at;
        }
    }

    /// Deletes a record at the provider.
    pub fn delete(&self, e: Entity, remote_id: &str) -> bool {
        let mut s = self.lock();
        match e {
            Entity::Customers => s.customers.remove(remote_id).is_some(),
            Entity::Invoices => s.invoices.remove(remote_id).is_some(),
            Entity::Articles => s.articles.remove(remote_id).is_some(),
            Entity::Projects => s.projects.remove(remote_id).is_some(),
        }
    }

    fn list<T: Tabled>(
        &self,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<T>, ApiError> {
        let (mut s, f) = self.call(format!("list {} page {page}", T::ENTITY));
        if f != Fault::None {
            return Err(retryable("list"));
        }
        let now = s.tick();
        let undated = s.undated;
        let all: Vec<Remote<T>> = T::table(&mut s)
            .iter()
            .filter(|(_, e)| since.is_none_or(|t| e.modified_at > t))
            .map(|(k, e)| remote(k, e, undated))
            .collect();
        let page = page.max(1);
        let start = (page as usize - 1) * self.page_size;
        let on_page: Vec<Remote<T>> = all
            .iter()
            .skip(start)
            .take(self.page_size)
            .cloned()
            .collect();
        let has_more = start + on_page.len() < all.len();
        let (bad, items): (Vec<Remote<T>>, Vec<Remote<T>>) = on_page
            .into_iter()
            .partition(|r| s.unreadable.contains(&r.remote_id));
        Ok(Page {
            has_more,
            items,
            next_page: page + 1,
            high_water: Some(now),
            unreadable: bad
                .into_iter()
                .map(|r| Unreadable {
                    remote_id: r.remote_id,
                    field: Some("Name".into()),
                    message: "injected: unexpected shape".into(),
                })
                .collect(),
        })
    }

    fn list_ids<T: Tabled>(&self, page: u32) -> Result<IdPage, ApiError> {
        let (mut s, f) = self.call(format!("list ids {} page {page}", T::ENTITY));
        if f != Fault::None {
            return Err(retryable("list ids"));
        }
        let all: Vec<String> = T::table(&mut s).keys().cloned().collect();
        let page = page.max(1);
        let start = (page as usize - 1) * self.page_size;
        let ids: Vec<String> = all
            .iter()
            .skip(start)
            .take(self.page_size)
            .cloned()
            .collect();
        Ok(IdPage {
            has_more: start + ids.len() < all.len(),
            ids,
            next_page: page + 1,
        })
    }

    fn get<T: Tabled>(&self, remote_id: &str) -> Result<Option<Remote<T>>, ApiError> {
        let (mut s, f) = self.call(format!("get {} {remote_id}", T::ENTITY));
        if f != Fault::None {
            return Err(retryable("get"));
        }
        if s.unreadable.contains(remote_id) {
            return Err(ApiError::unexpected("injected: unexpected shape"));
        }
        let undated = s.undated;
        Ok(T::table(&mut s)
            .get(remote_id)
            .map(|e| remote(remote_id, e, undated)))
    }

    fn find<T: Tabled>(&self, rec: &T) -> Result<Option<Remote<T>>, ApiError> {
        let (mut s, f) = self.call(format!("find {} {}", T::ENTITY, rec.our_id()));
        if f != Fault::None {
            return Err(retryable("find"));
        }
        let undated = s.undated;
        Ok(T::table(&mut s)
            .iter()
            .find(|(_, e)| e.our_ref.as_deref() == Some(rec.our_id()))
            .map(|(k, e)| remote(k, e, undated)))
    }

    fn create<T: Tabled>(&self, rec: &T, customer: Option<&str>) -> Result<Remote<T>, ApiError> {
        let (mut s, f) = self.call(format!("create {} {}", T::ENTITY, rec.our_id()));
        match f {
            Fault::Fail => return Err(retryable("create refused")),
            Fault::Refuse => return Err(ApiError::invalid_field("name", "injected: refused")),
            Fault::Timeout => {
                return Err(ApiError::Ambiguous {
                    message: "injected timeout".into(),
                })
            }
            Fault::None | Fault::AfterCommit | Fault::Late => {}
        }
        let now = s.tick();
        s.next_id += 1;
        let id = format!("{}{:04}", T::prefix(), s.next_id);
        if f == Fault::Late {
            let (rec, customer) = (rec.clone(), customer.map(str::to_string));
            s.late.push(Box::new(move |s: &mut State| {
                let now = s.tick();
                *s.creates
                    .entry((T::ENTITY, rec.our_id().to_string()))
                    .or_insert(0) += 1;
                let entry = Entry {
                    our_ref: Some(rec.our_id().to_string()),
                    record: rec,
                    modified_at: now,
                    customer_remote_id: customer,
                    complete: true,
                };
                T::table(s).insert(id, entry);
            }));
            return Err(ApiError::Ambiguous {
                message: "injected: no answer; the create lands later".into(),
            });
        }
        *s.creates
            .entry((T::ENTITY, rec.our_id().to_string()))
            .or_insert(0) += 1;
        let entry = Entry {
            record: rec.clone(),
            our_ref: Some(rec.our_id().to_string()),
            modified_at: now,
            customer_remote_id: customer.map(str::to_string),
            // An invoice's second step is lost with the answer.
            complete: !(f == Fault::AfterCommit && T::ENTITY == Entity::Invoices),
        };
        let out = remote(&id, &entry, s.undated);
        T::table(&mut s).insert(id, entry);
        if f == Fault::AfterCommit {
            return Err(ApiError::Ambiguous {
                message: "injected: committed, answer lost".into(),
            });
        }
        Ok(out)
    }

    fn update<T: Tabled>(&self, remote_id: &str, rec: &T) -> Result<Remote<T>, ApiError> {
        let (mut s, f) = self.call(format!("update {} {remote_id}", T::ENTITY));
        let undated = s.undated;
        if matches!(f, Fault::Fail | Fault::Timeout) {
            return Err(retryable("update"));
        }
        if f == Fault::Refuse {
            return Err(ApiError::invalid_field("name", "injected: refused"));
        }
        let now = s.tick();
        let Some(e) = T::table(&mut s).get_mut(remote_id) else {
            return Err(ApiError::NotFound {
                message: remote_id.to_string(),
            });
        };
        e.record = rec.clone();
        e.modified_at = now;
        let out = remote(remote_id, e, undated);
        if f == Fault::AfterCommit {
            return Err(retryable("update committed, answer lost"));
        }
        Ok(out)
    }
}

#[async_trait]
impl AccountingApi for FakeApi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Fortnox
    }

    fn stats(&self) -> &crate::http::outbound::Stats {
        &self.stats
    }

    fn reference_key(&self, _entity: Entity, our_id: &str) -> String {
        our_id.to_string()
    }

    async fn company(&self, _: &ApiAuth) -> Result<CompanyInfo, ApiError> {
        Ok(CompanyInfo {
            name: "Fake AB".into(),
            provider_company_id: Some("fake".into()),
        })
    }

    async fn list_customers(
        &self,
        _: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Customer>, ApiError> {
        self.list(since, page)
    }

    async fn list_customer_ids(&self, _: &ApiAuth, page: u32) -> Result<IdPage, ApiError> {
        self.list_ids::<Customer>(page)
    }

    async fn get_customer(
        &self,
        _: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Customer>>, ApiError> {
        self.get(remote_id)
    }

    async fn find_customer_by_reference(
        &self,
        _: &ApiAuth,
        customer: &Customer,
    ) -> Result<Option<Remote<Customer>>, ApiError> {
        self.find(customer)
    }

    async fn create_customer(
        &self,
        _: &ApiAuth,
        customer: &Customer,
    ) -> Result<Remote<Customer>, ApiError> {
        self.create(customer, None)
    }

    async fn update_customer(
        &self,
        _: &ApiAuth,
        remote_id: &str,
        customer: &Customer,
    ) -> Result<Remote<Customer>, ApiError> {
        self.update(remote_id, customer)
    }

    async fn list_invoices(
        &self,
        _: &ApiAuth,
        since: Option<DateTime<Utc>>,
        page: u32,
    ) -> Result<Page<Invoice>, ApiError> {
        self.list(since, page)
    }

    async fn list_invoice_ids(&self, _: &ApiAuth, page: u32) -> Result<IdPage, ApiError> {
        self.list_ids::<Invoice>(page)
    }

    async fn get_invoice(
        &self,
        _: &ApiAuth,
        remote_id: &str,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        self.get(remote_id)
    }

    async fn find_invoice_by_reference(
        &self,
        _: &ApiAuth,
        invoice: &Invoice,
    ) -> Result<Option<Remote<Invoice>>, ApiError> {
        self.find(invoice)
    }

    async fn create_invoice(
        &self,
        _: &ApiAuth,
        invoice: &Invoice,
        customer_remote_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        self.create(invoice, Some(customer_remote_id))
    }

    async fn update_invoice(
        &self,
        _: &ApiAuth,
        remote_id: &str,
        invoice: &Invoice,
        _customer_remote_id: &str,
    ) -> Result<Remote<Invoice>, ApiError> {
        self.update(remote_id, invoice)
    }

    async fn complete_invoice(
        &self,
        _: &ApiAuth,
        found: Remote<Invoice>,
    ) -> Result<Remote<Invoice>, ApiError> {
        let (mut s, f) = self.call(format!("complete invoices {}", found.remote_id));
        let undated = s.undated;
        if f != Fault::None {
            return Err(retryable("complete"));
        }
        match s.invoices.get_mut(&found.remote_id) {
            Some(e) => {
                e.complete = true;
                Ok(remote(&found.remote_id, e, undated))
            }
            None => Err(ApiError::NotFound {
                message: found.remote_id,
            }),
        }
    }
}
