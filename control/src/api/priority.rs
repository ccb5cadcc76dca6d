//! Pod priority, as Kubernetes' `Priority` admission plugin does it: a pod that names a
//! PriorityClass gets its value in `spec.priority`; a pod that names none gets the
//! global default class, if there is one; a class that does not exist is refused. At
//! most one class is the global default.

use skiff_proto::model::PriorityClass;
use skiff_proto::{Kind, Object};
use tonic::Status;

use super::objects::ObjectApi;
use super::status;

impl ObjectApi {
    fn classes(&self) -> Result<Vec<PriorityClass>, Status> {
        let (items, _) = self
            .store
            .state()
            .list(Kind::PriorityClass, None, None)
            .map_err(status::store)?;
        Ok(items
            .into_iter()
            .filter_map(|s| match s.object {
                Object::PriorityClass(c) => Some(c),
                _ => None,
            })
            .collect())
    }

    /// Fills in a new pod's priority from its class; checks a new class.
    pub(super) fn admit_priority(&self, o: &mut Object) -> Result<(), Status> {
        match o {
            Object::Pod(p) => {
                let classes = self.classes()?;
                let spec = &mut p.spec;
                match spec.priority_class_name.as_deref() {
                    Some(name) => {
                        let c = classes
                            .iter()
                            .find(|c| c.metadata.name == name)
                            .ok_or_else(|| {
                                Status::invalid_argument(format!(
                                    "Pod/{}/{}: no PriorityClass with name {name:?} was found; create it first (`kind: PriorityClass`, `value: N`) or remove spec.priorityClassName",
                                    p.metadata.namespace, p.metadata.name
                                ))
                            })?;
                        spec.priority = Some(c.value);
                    }
                    None => {
                        if let Some(c) = classes.iter().find(|c| c.global_default) {
                            spec.priority_class_name = Some(c.metadata.name.clone());
                            spec.priority = Some(c.value);
                        }
                    }
                }
                Ok(())
            }
            Object::PriorityClass(c) if c.global_default => {
                let other = self
                    .classes()?
                    .into_iter()
                    .find(|o| o.global_default && o.metadata.name != c.metadata.name);
                match other {
                    Some(o) => Err(Status::invalid_argument(format!(
                        "PriorityClass/{}: globalDefault is already set on PriorityClass/{}; only one class can be the default",
                        c.metadata.name, o.metadata.name
                    ))),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}
