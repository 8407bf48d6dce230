//! A [`Resolver`] over records held in memory: the zones of the RFC 7208 test suite, unit
//! tests and benchmarks. Counts the questions asked, so tests can check lookup limits.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use super::{Answer, DomainName, Lookup, Question, RecordData, RecordType, ResolveError, Resolver};

/// Records by name and type; names not present are NXDOMAIN, types not present NODATA.
#[derive(Debug, Default)]
pub struct MemoryResolver {
    records: HashMap<Question, Vec<RecordData>>,
    names: HashMap<DomainName, ()>,
    failures: HashMap<Question, ResolveError>,
    asked: Cell<u32>,
    log: RefCell<Vec<Question>>,
}

impl MemoryResolver {
    /// An empty zone.
    pub fn new() -> MemoryResolver {
        MemoryResolver::default()
    }

    /// Adds a record.
    pub fn add(&mut self, name: &DomainName, data: RecordData) {
        let record_type = match &data {
            RecordData::A(_) => RecordType::A,
            RecordData::Aaaa(_) => RecordType::Aaaa,
            RecordData::Mx { .. } => RecordType::Mx,
            RecordData::Txt(_) => RecordType::Txt,
            RecordData::Ptr(_) => RecordType::Ptr,
            RecordData::Cname(_) => RecordType::Cname,
            RecordData::Tlsa(_) => RecordType::Tlsa,
        };
        self.names.insert(name.clone(), ());
        self.records.entry(Question::new(name.clone(), record_type)).or_default().push(data);
    }

    /// Adds a TXT record of one string.
    pub fn add_txt(&mut self, name: &str, text: &str) {
        if let Ok(name) = DomainName::parse(name) {
            self.add(&name, RecordData::Txt(vec![text.as_bytes().into()]));
        }
    }

    /// Makes the name exist without records (NODATA for every type).
    pub fn add_name(&mut self, name: &DomainName) {
        self.names.insert(name.clone(), ());
    }

    /// Makes this question fail (a timeout, SERVFAIL, ...).
    pub fn fail(&mut self, question: Question, error: ResolveError) {
        self.names.insert(question.name.clone(), ());
        self.failures.insert(question, error);
    }

    /// How many questions were asked.
    pub fn asked(&self) -> u32 {
        self.asked.get()
    }

    /// The questions asked, in order.
    pub fn asked_questions(&self) -> Vec<Question> {
        self.log.borrow().clone()
    }

    fn answer(&self, question: &Question) -> Lookup {
        self.asked.set(self.asked.get() + 1);
        self.log.borrow_mut().push(question.clone());
        if let Some(error) = self.failures.get(question) {
            return Err(*error);
        }
        if let Some(records) = self.records.get(question) {
            return Ok(Arc::new(Answer::with_records(records.clone(), 300)));
        }
        if let Some(RecordData::Cname(target)) =
            self.records.get(&Question::new(question.name.clone(), RecordType::Cname)).and_then(|r| r.first())
            && question.record_type != RecordType::Cname
        {
            let target_question = Question::new(target.clone(), question.record_type);
            if let Some(records) = self.records.get(&target_question) {
                let mut answer = Answer::with_records(records.clone(), 300);
                answer.canonical_name = Some(target.clone());
                return Ok(Arc::new(answer));
            }
        }
        Ok(Arc::new(Answer::negative(!self.names.contains_key(&question.name), 300)))
    }
}

impl Resolver for MemoryResolver {
    fn lookup(&self, question: &Question) -> impl Future<Output = Lookup> {
        std::future::ready(self.answer(question))
    }
}
