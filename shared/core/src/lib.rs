//! Airlock's domain and services: flows, access requests as a state machine, roles and policy,
//! CEL rules, and the services that drive a request from submission to expiry over abstract ports.
//!
//! Nothing here performs I/O or knows about AWS or Slack; adapters implement [`ports`].

pub mod audit;
pub mod config;
pub mod duration;
pub mod email;
pub mod error;
pub mod escalators;
pub mod evaluation;
pub mod flow;
pub mod ids;
pub mod outbox;
pub mod policy;
pub mod ports;
pub mod request;
pub mod role;
pub mod roles;
pub mod rules;
pub mod services;
pub mod slack_ids;
pub mod workflow;

pub use audit::{Actor, AuditAction, AuditEvent};
pub use config::{Config, ConfigError};
pub use duration::GrantDuration;
pub use email::Email;
pub use error::{Error, ErrorCode, FieldError};
pub use flow::{Approvers, FieldSpec, FieldType, Flow, Requesters, Rules, Target, TargetKind};
pub use ids::{EventId, RequestId};
pub use outbox::{Notification, OutboxItem};
pub use request::{
    AccessRequest, Approval, ChangeError, MessageRef, NewRequest, NewTarget, Reminders, RemovalAttempts,
    RequestBuilder, Requester, Status, TargetGrant, TransitionError, Verdict,
};
pub use role::{Identity, Role};
pub use services::{Airlock, Deps, Steps};
pub use workflow::{Decision, Hold, Route, SCHEMA_VERSION, StepCall, StepName, WorkflowState};
